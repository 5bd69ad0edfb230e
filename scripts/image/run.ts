/** Runs a command for the image build: resolves with its stdout; fails with the command line and its output's end. */
import { spawn } from 'node:child_process';

export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; quiet?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let tail = ''; // both streams, for the error message
    const remember = (b: Buffer) => {
      tail = (tail + b.toString()).slice(-3000);
    };
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      remember(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      remember(b);
      if (!opts.quiet) process.stderr.write(b);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${tail}`));
    });
  });
}
