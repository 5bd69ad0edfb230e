/**
 * GET /: one static HTML page, no external assets. A person picks or drops an image and sees its ranked
 * predictions as bars, or the service's error message for a bad file. `curl /` gets the same HTML, whose text
 * explains the API and shows a curl example. All URLs are relative, so the page works behind a path prefix.
 */
export const DEMO_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Image classification</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.5rem; margin-bottom: .25rem; }
  p { line-height: 1.45; }
  pre { background: #1d2330; color: #e8ecf3; padding: .75rem 1rem; border-radius: 6px; overflow-x: auto; }
  code { font-family: ui-monospace, monospace; }
  #drop { display: block; border: 2px dashed #8a94a6; border-radius: 10px; padding: 1.5rem; text-align: center; background: #fff; cursor: pointer; }
  #drop.over { border-color: #2f6fec; background: #eef3ff; }
  #result { display: flex; gap: 1.25rem; align-items: flex-start; margin-top: 1.25rem; }
  #preview { max-width: 12rem; max-height: 12rem; border-radius: 6px; }
  #preview[hidden] { display: none; }
  #predictions { list-style: none; padding: 0; margin: 0; flex: 1; }
  .prediction { display: grid; grid-template-columns: 6rem 1fr 4rem; gap: .5rem; align-items: center; margin: .35rem 0; }
  .bar { background: #e3e7ee; border-radius: 4px; height: 1rem; overflow: hidden; }
  .bar > span { display: block; height: 100%; background: #2f6fec; }
  .prediction:first-child .bar > span { background: #17a05d; }
  .pct { text-align: right; font-variant-numeric: tabular-nums; }
  #error { background: #fdecec; color: #8f1d1d; border: 1px solid #f3b7b7; border-radius: 6px; padding: .75rem 1rem; margin-top: 1rem; }
  #status { color: #5b6475; font-size: .9rem; min-height: 1.2rem; }
  footer { margin-top: 2rem; font-size: .9rem; color: #5b6475; }
</style>
</head>
<body>
<h1>Image classification</h1>
<p id="model">This service classifies images. POST an image to <code>/predict</code> as multipart/form-data
(field <code>image</code>, repeat it to send several) or as the raw body with an <code>image/*</code> Content-Type;
the answer lists the most probable labels first.</p>
<pre id="curl">curl -F image=@examples/chelsea.png http://127.0.0.1:8080/predict</pre>
<p id="more">Several models: <code>/predict?model=NAME</code> (names in <code>GET /v1/models</code>). The same
models speak the Open Inference Protocol (KServe V2): <code>GET /v2/models/NAME</code> for the input and output,
<code>POST /v2/models/NAME/infer</code> with an FP32 tensor or encoded images as BYTES (binary data extension);
<code>/openapi.json</code> lists every endpoint.</p>
<p>Or try it here: pick an image, or drop one on the box.</p>
<label id="drop" for="file">Drop an image here, or click to choose a file
  <br><input id="file" type="file" accept="image/*">
</label>
<p id="status" aria-live="polite"></p>
<div id="error" role="alert" hidden></div>
<div id="result">
  <img id="preview" alt="the uploaded image" hidden>
  <ol id="predictions" aria-label="predictions"></ol>
</div>
<footer>API: <a href="openapi.json">openapi.json</a> · <a href="v1/models">v1/models</a> ·
<a href="readyz">readyz</a> · <a href="metrics">metrics</a></footer>
<script>
(function () {
  var $ = function (id) { return document.getElementById(id); };
  $('curl').textContent = 'curl -F image=@examples/chelsea.png ' + new URL('predict', location.href).href;
  fetch('v1/models').then(function (r) { return r.json(); }).then(function (body) {
    var m = body.models && body.models[0];
    if (!m) return;
    var note = document.createElement('span');
    note.textContent = ' Model: ' + m.name + ' (' + m.engine + ' ' + m.backend + ', ' + (m.labels || []).length + ' labels).';
    $('model').appendChild(note);
  }).catch(function () {});

  function showError(text) {
    $('error').textContent = text;
    $('error').hidden = false;
    $('status').textContent = '';
  }

  function render(predictions) {
    var list = $('predictions');
    predictions.forEach(function (p) {
      var li = document.createElement('li');
      li.className = 'prediction';
      var label = document.createElement('span');
      label.className = 'label';
      label.textContent = p.label;
      var bar = document.createElement('span');
      bar.className = 'bar';
      var fill = document.createElement('span');
      fill.style.width = (p.probability * 100).toFixed(1) + '%';
      bar.appendChild(fill);
      var pct = document.createElement('span');
      pct.className = 'pct';
      pct.textContent = (p.probability * 100).toFixed(1) + '%';
      li.append(label, bar, pct);
      list.appendChild(li);
    });
  }

  function classify(file) {
    if (!file) return;
    $('error').hidden = true;
    $('predictions').textContent = '';
    var preview = $('preview');
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.hidden = true;
    $('status').textContent = 'Classifying ' + file.name + '...';
    var form = new FormData();
    form.append('image', file, file.name);
    var started = performance.now();
    fetch('predict', { method: 'POST', body: form }).then(function (res) {
      return res.json().then(function (body) { return { res: res, body: body }; }, function () {
        return { res: res, body: { success: false, error: { code: 'HTTP_' + res.status, message: 'The service answered HTTP ' + res.status + '.' } } };
      });
    }).then(function (r) {
      if (!r.body.success) {
        showError(file.name + ': ' + r.body.error.message + ' (' + r.body.error.code + ', HTTP ' + r.res.status + ')');
        return;
      }
      preview.src = URL.createObjectURL(file);
      preview.hidden = false;
      render(r.body.predictions);
      $('status').textContent = file.name + ': ' + Math.round(performance.now() - started) + ' ms, request id ' + r.res.headers.get('x-request-id');
    }).catch(function (err) {
      showError('The service could not be reached: ' + err.message);
    });
  }

  $('file').addEventListener('change', function (e) {
    classify(e.target.files[0]);
    e.target.value = ''; // picking the same file again classifies it again
  });
  var drop = $('drop');
  drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
  drop.addEventListener('drop', function (e) {
    e.preventDefault();
    drop.classList.remove('over');
    classify(e.dataTransfer.files[0]);
  });
})();
</script>
</body>
</html>
`;
