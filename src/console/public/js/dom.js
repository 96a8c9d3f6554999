// Tiny DOM helpers. Everything the API returns is set as text, never parsed as HTML.

/** h('p', {class: 'x', onclick: fn}, 'text', child) → an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function clear(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

/** A table with a caption and column headers; rows are arrays of cells (text or nodes). */
export function table(caption, headers, rows, attrs = {}) {
  return h(
    'div',
    { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h(
      'table',
      attrs,
      h('caption', {}, caption),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map((text) => h('th', { scope: 'col' }, text)),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((cells) =>
          h(
            'tr',
            {},
            cells.map((c) => h('td', {}, c)),
          ),
        ),
      ),
    ),
  );
}

/** The calm panel shown when the gateway does not (yet) offer a route. */
export const unavailable = (message) => h('p', { class: 'notice' }, message);

/** A form's non-empty trimmed values by input name. */
export function formValues(form) {
  const values = {};
  for (const [name, value] of new FormData(form)) {
    if (typeof value === 'string' && value.trim() !== '') values[name] = value.trim();
  }
  return values;
}

/** A message for everyone in the status line (a polite live region). */
export function announce(message) {
  document.getElementById('status').textContent = message;
}

/** The message to show for an ApiError: its problem title, and the detail when there is one. */
export const problemText = (err, networkMessage) =>
  err.code === 'NETWORK' ? networkMessage : [err.title || err.message, err.detail].filter(Boolean).join(' — ');
