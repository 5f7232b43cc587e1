// dpmnist page: a drawing pad whose strokes are sent to POST api/predict while
// the user draws (at most one request in flight, a new one at most every
// 50 ms), uploads by file picker or drag-and-drop, and the answer shown as a
// digit, ten probability bars and the 28x28 image the model saw.
'use strict';

(function () {
  const kThrottleMs = 50;
  // MNIST strokes are about a tenth of the digit's height; a digit drawn over
  // most of the 280 px pad gets the same proportion.
  const kStrokeWidth = 20;

  const pad = document.getElementById('pad');
  const context = pad.getContext('2d');
  const dropZone = document.getElementById('drop-zone');
  const dropHint = document.getElementById('drop-hint');
  const preview = document.getElementById('upload-preview');
  const fileInput = document.getElementById('file');
  const result = document.getElementById('result');
  const digitView = document.getElementById('digit');
  const confidenceView = document.getElementById('confidence');
  const seen = document.getElementById('seen');
  const timing = document.getElementById('timing');
  const sourceNote = document.getElementById('source-note');
  const bars = [];

  // Round trips of every answered request, and whether anything is still to
  // be sent or answered: for the browser test and the curious.
  window.dpmnistStats = {
    roundTrips: [],
    idle: () => timer === null && !inFlight && !sendAgain && posting === 0,
  };

  let timer = null;
  let inFlight = false;
  let posting = 0;  // requests not yet answered, uploads included
  let sendAgain = false;
  let generation = 0;  // bumped by clear and upload: older answers are dropped
  let drawing = false;
  let hasInk = false;
  let last = null;

  function buildBars() {
    const container = document.getElementById('bars');
    for (let d = 0; d < 10; ++d) {
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.dataset.digit = String(d);
      const fill = document.createElement('div');
      fill.className = 'fill';
      fill.style.height = '0%';
      const label = document.createElement('div');
      label.className = 'label';
      label.textContent = String(d);
      bar.append(fill, label);
      container.append(bar);
      bars.push(bar);
    }
  }

  function showBars(probabilities) {
    let top = -1;
    if (probabilities.length === 10) {
      top = probabilities.indexOf(Math.max(...probabilities));
    }
    bars.forEach((bar, d) => {
      const p = probabilities.length === 10 ? probabilities[d] : 0;
      bar.firstChild.style.height = (100 * p).toFixed(1) + '%';
      bar.dataset.probability = p.toFixed(4);
      bar.title = d + ': ' + (100 * p).toFixed(1) + '%';
      bar.classList.toggle('top', d === top);
    });
  }

  function setState(state, source) {
    result.dataset.state = state;
    if (source) result.dataset.source = source;
  }

  function resetPad() {
    context.fillStyle = '#000';
    context.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
  }

  function clearAll() {
    generation += 1;
    clearTimeout(timer);
    timer = null;
    sendAgain = false;
    resetPad();
    preview.hidden = true;
    digitView.textContent = '\u2013';
    confidenceView.textContent = 'draw something';
    showBars([]);
    seen.removeAttribute('src');
    timing.innerHTML = '&nbsp;';
    sourceNote.textContent = 'Drawing: light strokes on black, as in MNIST.';
    delete result.dataset.digit;
    setState('idle');
  }

  function showAnswer(answer, roundTripMs, source) {
    result.dataset.count = String(Number(result.dataset.count) + 1);
    const ms = answer.milliseconds || {};
    timing.textContent = 'round trip ' + roundTripMs.toFixed(1) + ' ms; server ' +
        (ms.total ?? 0).toFixed(2) + ' ms (decode ' + (ms.decode ?? 0).toFixed(2) +
        ', preprocess ' + (ms.preprocess ?? 0).toFixed(2) + ', inference ' +
        (ms.inference ?? 0).toFixed(3) + ')';
    if (answer.no_digit) {
      digitView.textContent = '?';
      confidenceView.textContent = 'no digit: ' + (answer.reason || 'nothing digit-like');
      showBars([]);
      seen.removeAttribute('src');
      delete result.dataset.digit;
      setState('no-digit', source);
      return;
    }
    digitView.textContent = String(answer.digit);
    confidenceView.textContent = (100 * answer.probability).toFixed(1) + '% sure';
    showBars(answer.probabilities);
    seen.src = answer.preprocessed;
    result.dataset.digit = String(answer.digit);
    setState('done', source);
  }

  function showError(message, source) {
    result.dataset.count = String(Number(result.dataset.count) + 1);
    digitView.textContent = '!';
    confidenceView.textContent = message;
    showBars([]);
    seen.removeAttribute('src');
    delete result.dataset.digit;
    setState('error', source);
  }

  // body: a Blob (sent as its own type) or FormData (multipart).
  async function post(body, headers, source) {
    const mine = generation;
    const start = performance.now();
    posting += 1;
    try {
      const response = await fetch('api/predict', { method: 'POST', body, headers });
      const answer = await response.json();
      const roundTripMs = performance.now() - start;
      if (mine !== generation) return;
      window.dpmnistStats.roundTrips.push(roundTripMs);
      if (!response.ok) {
        showError(answer.error || ('HTTP ' + response.status), source);
      } else {
        showAnswer(answer, roundTripMs, source);
      }
    } catch (error) {
      if (mine === generation) showError('request failed: ' + error.message, source);
    } finally {
      posting -= 1;
    }
  }

  function sendPad() {
    if (!hasInk) return;
    if (inFlight) {
      sendAgain = true;
      return;
    }
    inFlight = true;
    pad.toBlob(async (blob) => {
      try {
        if (blob) await post(blob, { 'Content-Type': 'image/png' }, 'canvas');
      } finally {
        inFlight = false;
        if (sendAgain) {
          sendAgain = false;
          sendPad();
        }
      }
    }, 'image/png');
  }

  // Throttle, not debounce: a pure debounce would wait for the pen to stop.
  function schedule() {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      sendPad();
    }, kThrottleMs);
  }

  function padPoint(event) {
    const box = pad.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (pad.width / box.width),
      y: (event.clientY - box.top) * (pad.height / box.height),
    };
  }

  function strokeTo(point) {
    context.strokeStyle = '#fff';
    context.fillStyle = '#fff';
    context.lineWidth = kStrokeWidth;
    context.lineCap = 'round';
    context.lineJoin = 'round';
    if (last === null) {
      context.beginPath();
      context.arc(point.x, point.y, kStrokeWidth / 2, 0, 2 * Math.PI);
      context.fill();
    } else {
      context.beginPath();
      context.moveTo(last.x, last.y);
      context.lineTo(point.x, point.y);
      context.stroke();
    }
    last = point;
    hasInk = true;
  }

  pad.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    if (!preview.hidden) clearAll();
    drawing = true;
    last = null;
    try {
      pad.setPointerCapture(event.pointerId);  // keep the stroke when the pointer leaves the pad
    } catch (error) {
      // Synthetic or already-released pointers cannot be captured; drawing still works.
    }
    sourceNote.textContent = 'Drawing: light strokes on black, as in MNIST.';
    strokeTo(padPoint(event));
    schedule();
    event.preventDefault();
  });
  pad.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of (events.length ? events : [event])) strokeTo(padPoint(e));
    schedule();
    event.preventDefault();
  });
  function endStroke() {
    if (!drawing) return;
    drawing = false;
    last = null;
    schedule();
  }
  pad.addEventListener('pointerup', endStroke);
  pad.addEventListener('pointercancel', endStroke);
  pad.addEventListener('lostpointercapture', endStroke);

  function upload(file) {
    if (!file) return;
    clearAll();
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    sourceNote.textContent = 'Uploaded: ' + file.name + ' (' + file.size + ' bytes)';
    setState('pending', 'upload');
    const form = new FormData();
    form.append('image', file, file.name);
    post(form, {}, 'upload');
  }

  document.getElementById('clear').addEventListener('click', clearAll);
  fileInput.addEventListener('change', () => {
    upload(fileInput.files[0]);
    fileInput.value = '';
  });

  let dragDepth = 0;
  function dragging(on) {
    dropZone.classList.toggle('dragging', on);
    dropHint.hidden = !on;
  }
  document.addEventListener('dragenter', (event) => {
    event.preventDefault();
    dragDepth += 1;
    dragging(true);
  });
  document.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) dragging(false);
  });
  document.addEventListener('dragover', (event) => event.preventDefault());
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    dragDepth = 0;
    dragging(false);
    const files = event.dataTransfer ? event.dataTransfer.files : null;
    if (files && files.length > 0) upload(files[0]);
  });

  async function loadModelInfo() {
    const footer = document.getElementById('model-info');
    try {
      const info = await (await fetch('api/model')).json();
      const parts = ['model ' + info.architecture, info.parameters.toLocaleString('en') + ' parameters'];
      if (info.test_accuracy !== null) {
        parts.push('test accuracy ' + (100 * info.test_accuracy).toFixed(2) + '%');
      }
      parts.push('epoch ' + info.epoch, 'trained on ' + info.world_size + ' rank(s)');
      footer.textContent = parts.join(' \u00b7 ');
    } catch (error) {
      footer.textContent = 'model information unavailable: ' + error.message;
    }
  }

  buildBars();
  clearAll();
  loadModelInfo();
})();
