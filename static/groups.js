// Manage Groups: the modal window. Without this file the window is a plain page
// (/groups): every link and form there works as is; this only runs them inside
// the <dialog> (fragments fetched with Caseload.fragment: X-Fragment: 1) and keeps focus sensible.
(() => {
  if (window.CaseloadGroups) return; // included by the page and the dialog: bind once
  window.CaseloadGroups = true;
  const { el } = Caseload;

  const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])';
  const POLL_MS = 2000;
  let poll = null;

  const dialog = () => document.getElementById('groups-dialog');
  const body = () => { const d = dialog(); return d && d.querySelector('[data-groups-body]'); };
  const focusables = (root) => Array.from(root.querySelectorAll(FOCUSABLE))
    .filter((node) => node.offsetParent !== null || node === document.activeElement);
  const deleting = (root) => { const w = root.querySelector('[data-groups-window]'); return w && w.hasAttribute('data-deleting'); };

  function settle(focusHint) {
    const root = body();
    const target = root.querySelector('[autofocus]') || (focusHint && root.querySelector(focusHint)) ||
      root.querySelector('[role=status]') && root.querySelector('#f-new-group') || focusables(dialog())[0];
    if (target) target.focus();
    clearTimeout(poll);
    if (deleting(root)) poll = setTimeout(refresh, POLL_MS);
  }

  async function load(url, init = {}, focusHint) {
    const root = body();
    root.setAttribute('aria-busy', 'true');
    try {
      const { reply, html } = await Caseload.fragment(url, init);
      if (reply.status >= 500) throw new Error('server');
      root.innerHTML = html;
      settle(focusHint);
    } catch {
      const link = el('a', { href: dialog().dataset.src }, 'Open it as a page');
      const alert = el('div', { class: 'alert alert-error', role: 'alert' }, 'The Manage Groups window could not be loaded. ');
      alert.appendChild(link);
      root.replaceChildren(alert);
      link.focus();
    }
    root.setAttribute('aria-busy', 'false');
  }

  // While a group's members are being ungrouped, show its progress (unless someone is typing).
  async function refresh() {
    const d = dialog();
    if (!d || !d.open) return;
    const active = document.activeElement;
    if (active && active.tagName === 'INPUT' && active.value) { poll = setTimeout(refresh, POLL_MS); return; }
    const root = body();
    let html;
    try {
      const answer = await Caseload.fragment(d.dataset.src);
      if (!answer.reply.ok) throw new Error('status');
      html = answer.html;
    } catch {
      poll = setTimeout(refresh, POLL_MS * 2);
      return;
    }
    const hadFocus = root.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    root.innerHTML = html;
    const back = hadFocus && root.querySelector(`[aria-label="${hadFocus.replace(/"/g, '\\"')}"]`);
    if (back) back.focus(); else if (hadFocus !== null) (root.querySelector('#f-new-group') || d).focus();
    if (deleting(root)) poll = setTimeout(refresh, POLL_MS);
  }

  function open(opener) {
    const d = dialog();
    d.opener = opener;
    d.showModal();
    load(d.dataset.src, {}, '#f-new-group');
  }

  function close() {
    clearTimeout(poll);
    dialog().close();
  }

  // A group name typed and not saved: closing asks first (the bar of the Invite Users window).
  const typedName = (d) => Array.from(d.querySelectorAll('input[type=text]')).find((input) =>
    input.id === 'f-new-group' ? input.value.trim() : input.value !== input.defaultValue);

  function askBeforeClosing(d) {
    const typed = typedName(d);
    if (!typed) return false;
    let bar = d.querySelector('[data-discard]');
    if (!bar) {
      bar = el('div', { class: 'discard-bar', role: 'alertdialog', 'aria-labelledby': 'groups-discard-question', 'data-discard': '' });
      const question = el('p', { id: 'groups-discard-question' }, 'Discard the group name you typed?');
      const discard = el('button', { type: 'button', class: 'btn btn-danger' }, 'Discard');
      const keep = el('button', { type: 'button', class: 'btn btn-secondary' }, 'Keep editing');
      discard.addEventListener('click', () => { bar.remove(); typed.value = ''; close(); });
      keep.addEventListener('click', () => { bar.remove(); typed.focus(); });
      bar.append(question, discard, keep);
      d.querySelector('.dialog-head').after(bar);
    }
    bar.querySelector('.btn-secondary').focus();
    return true;
  }

  document.addEventListener('cancel', (event) => {
    if (event.target.id === 'groups-dialog' && askBeforeClosing(event.target)) event.preventDefault();
  }, true);

  document.addEventListener('click', (event) => {
    if (!event.target.closest) return;
    const opener = event.target.closest('[data-open-groups]');
    const d = dialog();
    if (opener && d && typeof d.showModal === 'function') {
      event.preventDefault();
      open(opener);
      return;
    }
    if (event.target.closest('[data-close-groups]')) { if (!askBeforeClosing(d)) close(); return; }
    const link = event.target.closest('[data-groups-body] [data-window-link]');
    if (link) {
      event.preventDefault();
      load(link.href);
    }
  });

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!form.matches || !form.matches('[data-groups-body] [data-groups-form]')) return;
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    load(form.action, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(new FormData(form)).toString() }, '#f-new-group');
  });

  // Escape inside a rename field or a confirmation cancels that, not the whole window.
  document.addEventListener('keydown', (event) => {
    const d = dialog();
    if (!d || !d.open) return;
    if (event.key === 'Escape') {
      const row = event.target.closest && event.target.closest('.group-row');
      const cancel = row && row.querySelector('[data-cancel]');
      if (cancel) { event.preventDefault(); load(cancel.href); }
      return;
    }
    if (event.key !== 'Tab') return;
    const nodes = focusables(d);
    if (!nodes.length) return;
    const [first, last] = [nodes[0], nodes[nodes.length - 1]];
    const outside = !d.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || outside)) {
      event.preventDefault(); last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || outside)) {
      event.preventDefault(); first.focus();
    }
  });

  document.addEventListener('close', (event) => {
    const d = event.target;
    if (d.id !== 'groups-dialog') return;
    clearTimeout(poll);
    if (d.opener) { d.opener.focus(); d.opener = null; }
  }, true);
})();
