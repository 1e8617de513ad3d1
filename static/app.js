// Caseload's pages work without JavaScript; this file only enhances them.
// Loaded first and without `defer`, so the `js` class is on <html> before the
// first paint (no flash of the no-JavaScript controls). Feature scripts use
// these helpers and register themselves on `Caseload.ready`.
document.documentElement.classList.add('js');

window.Caseload = {
  FRAGMENT_HEADER: 'X-Fragment', // the one partial-page protocol: the server answers with the part only

  csrf() { const m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ''; },

  ready(fn) { if (document.readyState !== 'loading') fn(); else document.addEventListener('DOMContentLoaded', fn); },

  el(tag, attrs = {}, text = '') {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    return node;
  },

  plural(n, one, many = one + 's') { return `${n.toLocaleString('en')} ${n === 1 ? one : many}`; },

  // A page part from the server (same URL as the page; `X-Fragment: 1`).
  async fragment(url, init = {}) {
    const headers = { ...(init.headers || {}), [Caseload.FRAGMENT_HEADER]: '1' };
    const reply = await fetch(url, { credentials: 'same-origin', ...init, headers });
    return { reply, html: await reply.text() };
  },

  // JSON API calls with the CSRF token; a refusal becomes an Error with the server's message.
  async api(method, url, body) {
    const reply = await fetch(url, {
      method, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': Caseload.csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await reply.json().catch(() => ({}));
    if (!reply.ok) throw Object.assign(new Error(json.message || 'Something went wrong. Try again.'), { body: json });
    return json;
  },

  // A form posted by a script (X-Fragment: 1): the server's one-line answer ([data-notice]).
  async postForNotice(url, data) {
    const failed = 'That did not go through. Reload the page and try again.';
    try {
      const reply = await fetch(url, {
        method: 'POST', credentials: 'same-origin', body: new URLSearchParams(data),
        headers: { [Caseload.FRAGMENT_HEADER]: '1' },
      });
      const answer = Caseload.el('div');
      answer.innerHTML = await reply.text();
      const notice = answer.querySelector('[data-notice]');
      return notice ? notice.textContent.trim() : failed;
    } catch (error) {
      return failed;
    }
  },

  // One polite line for screen readers (cleared first so a repeat is read again).
  announce(region, message) {
    if (!region) return;
    region.textContent = '';
    window.setTimeout(() => { region.textContent = message; }, 50);
  },

  // A short message at the foot of the screen, with an optional link ("1 invited · View").
  toast(message, link) {
    let box = document.querySelector('[data-toasts]');
    if (!box) {
      box = Caseload.el('div', { class: 'toasts', 'data-toasts': '', role: 'status', 'aria-live': 'polite' });
      document.body.appendChild(box);
    }
    const item = Caseload.el('div', { class: 'toast' }, message);
    if (link) {
      item.append(' · ');
      const a = Caseload.el('a', { href: link.href }, link.text);
      if (link.onClick) a.addEventListener('click', (event) => { link.onClick(event); item.remove(); });
      item.appendChild(a);
    }
    box.appendChild(item);
    window.setTimeout(() => item.remove(), 8000);
  },
};

// A link drawn as a button (Invite users, Manage Groups, Cancel ...) is pressed with Space as a
// button is, not only with Enter: people press what they see.
document.addEventListener('keydown', (event) => {
  if (event.key !== ' ' || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  const link = event.target.closest?.('a.btn[href]');
  if (!link) return;
  event.preventDefault();
  link.click();
});
