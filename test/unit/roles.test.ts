/** The container's roles (src/config/roles.ts): which one a process takes, and where its readiness answers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseRole, readinessPort } from '../../src/config/roles.ts';

describe('roles', () => {
  it('takes the argument, else ROLE, else all; refuses any other word naming the choices', () => {
    assert.equal(chooseRole(undefined, {}), 'all');
    assert.equal(chooseRole(undefined, { ROLE: 'model-host' }), 'model-host');
    assert.equal(chooseRole('frontend', { ROLE: 'model-host' }), 'frontend');
    assert.throws(() => chooseRole('web', {}), /unknown role "web": use one of all, frontend, model-host/);
  });

  it("answers readiness on PORT (the service's default when unset), a model host on HOST_HEALTH_PORT", () => {
    assert.equal(readinessPort('all', {}), 8080);
    assert.equal(readinessPort('frontend', { PORT: '9000' }), 9000);
    assert.equal(readinessPort('model-host', { HOST_HEALTH_PORT: '9100', PORT: '9000' }), 9100);
    assert.throws(() => readinessPort('frontend', { PORT: 'eighty' }));
  });
});
