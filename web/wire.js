// The wire view: the bytes of one real exchange of a pattern, as GET
// /api/wire recorded them on a socket. The lab makes the exchange with itself,
// as an ordinary client, so what shows here is what the server really sends.

const dialog = () => document.getElementById('wire');

// showWire captures one exchange of pattern and shows it in the dialog.
export async function showWire(pattern, title) {
  const box = dialog();
  box.querySelector('h2').textContent = `On the wire: ${title}`;
  const body = box.querySelector('.wire-body');
  body.replaceChildren(note('capturing one exchange…'));
  if (!box.open) box.showModal();
  try {
    const resp = await fetch(`api/wire?pattern=${encodeURIComponent(pattern)}`);
    const capture = await resp.json();
    if (!resp.ok) {
      body.replaceChildren(note(capture.error ?? `HTTP ${resp.status}`));
      return;
    }
    body.replaceChildren(note(`The lab dialled ${capture.target} and recorded every byte; \\r\\n are the CR LF bytes that end lines.`),
      ...capture.parts.map(part));
  } catch (err) {
    body.replaceChildren(note(err.message));
  }
}

export function setupWire() {
  const box = dialog();
  box.querySelector('button.close').addEventListener('click', () => box.close());
}

// part is one step of the exchange: who sent it, what it is, its bytes.
function part({ from, what, hex, text }) {
  const item = document.createElement('section');
  item.className = `wire-part from-${from}`;
  const head = document.createElement('h3');
  head.textContent = `${from === 'client' ? 'client → server' : 'server → client'}: ${what}`;
  item.append(head);
  if (hex) item.append(Object.assign(document.createElement('code'), { className: 'hex', textContent: hex }));
  if (text) item.append(bytesOf(text));
  return item;
}

// bytesOf shows text with its line ends visible: CR as \r, LF as \n and a break.
function bytesOf(text) {
  const pre = document.createElement('pre');
  for (const piece of text.split(/(\r|\n)/)) {
    if (piece === '\r' || piece === '\n') {
      pre.append(Object.assign(document.createElement('span'), { className: 'ctl', textContent: piece === '\r' ? '\\r' : '\\n' }));
      if (piece === '\n') pre.append('\n');
    } else if (piece !== '') {
      pre.append(piece);
    }
  }
  return pre;
}

function note(text) {
  return Object.assign(document.createElement('p'), { className: 'note', textContent: text });
}
