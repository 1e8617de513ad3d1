// The Actions menu (three dots) as an ARIA menu button. Without this file each
// menu is a <details> disclosure of plain links and forms (templates/clients/_row_menu.html).
// Here: Enter, Space or ArrowDown open it on the first item, ArrowUp on the last;
// arrows, Home and End move; Escape closes and returns focus to the button;
// Tab or a click outside closes. Menus re-rendered by the live filters are
// enhanced as they appear.
Caseload.ready(() => {
  let open = null; // { button, list }

  const items = (list) => Array.from(list.querySelectorAll('[role="menuitem"]'));

  function place(button, list) {
    // Fixed to the viewport, so the table's scroll box never clips it; flips up near the bottom.
    const rect = button.getBoundingClientRect();
    list.style.position = 'fixed';
    list.style.right = `${Math.max(8, window.innerWidth - rect.right)}px`;
    list.style.left = 'auto';
    const below = rect.bottom + 4;
    list.style.top = `${below}px`;
    const height = list.offsetHeight;
    if (below + height > window.innerHeight - 8 && rect.top - height - 4 > 8) {
      list.style.top = `${rect.top - height - 4}px`;
    }
  }

  function close(focusButton) {
    if (!open) return;
    const { button, list } = open;
    list.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    open = null;
    if (focusButton) button.focus();
  }

  function show(button, list, which) {
    if (open && open.button !== button) close(false);
    list.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    open = { button, list };
    place(button, list);
    const all = items(list);
    if (all.length) (which === 'last' ? all[all.length - 1] : all[0]).focus();
  }

  function enhance(details) {
    const summary = details.querySelector('summary');
    const list = details.querySelector('ul');
    if (!summary || !list) return;
    const wrapper = Caseload.el('div', { class: 'menu menu-js' });
    const button = Caseload.el('button', {
      type: 'button', class: 'menu-button', 'aria-label': summary.getAttribute('aria-label') || 'Actions',
      'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': list.id,
    });
    button.innerHTML = summary.innerHTML;
    list.setAttribute('role', 'menu');
    list.hidden = true;
    for (const li of list.children) li.setAttribute('role', 'none');
    for (const item of list.querySelectorAll('a, button')) {
      item.setAttribute('role', 'menuitem');
      item.tabIndex = -1;
    }
    wrapper.append(button, list);
    details.replaceWith(wrapper);

    button.addEventListener('click', () => {
      if (open && open.button === button) close(true); else show(button, list, 'first');
    });
    button.addEventListener('keydown', (event) => {
      if (event.key === 'ArrowDown') { event.preventDefault(); show(button, list, 'first'); }
      if (event.key === 'ArrowUp') { event.preventDefault(); show(button, list, 'last'); }
    });
    list.addEventListener('keydown', (event) => {
      const all = items(list);
      const at = all.indexOf(document.activeElement);
      const move = (index) => { event.preventDefault(); all[(index + all.length) % all.length].focus(); };
      if (event.key === 'ArrowDown') move(at + 1);
      else if (event.key === 'ArrowUp') move(at - 1);
      else if (event.key === 'Home') move(0);
      else if (event.key === 'End') move(all.length - 1);
      else if (event.key === 'Escape') { event.preventDefault(); close(true); }
      else if (event.key === 'Tab') close(false);
      else if (event.key === ' ' && document.activeElement.tagName === 'A') { event.preventDefault(); document.activeElement.click(); }
    });
  }

  const enhanceAll = (root) => root.querySelectorAll('details.menu[data-menu]').forEach(enhance);
  enhanceAll(document);
  new MutationObserver((changes) => {
    if (open && !document.contains(open.button)) open = null;
    for (const change of changes) {
      for (const node of change.addedNodes) if (node.nodeType === 1) enhanceAll(node);
    }
  }).observe(document.body, { childList: true, subtree: true });

  document.addEventListener('click', (event) => {
    if (open && !open.list.contains(event.target) && !open.button.contains(event.target)) close(false);
  });

  // ---------------------------------------------------------------- Resend / Revoke: ask, then answer in place
  // The item's link is the question's own page (no JavaScript); here its part opens in a
  // <dialog> over the table, the answer is a toast and the table reloads (caseload:changed).
  document.addEventListener('click', async (event) => {
    const link = event.target.closest('a[data-confirm]');
    if (!link || typeof HTMLDialogElement !== 'function' || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    const menuButton = open ? open.button : null;
    close(false);
    let part;
    try {
      const { reply, html } = await Caseload.fragment(link.href);
      if (!reply.ok) throw new Error(reply.statusText);
      part = html;
    } catch (error) {
      window.location = link.href;
      return;
    }
    const dialog = Caseload.el('dialog', { class: 'confirm-dialog', 'aria-labelledby': 'confirm-title' });
    dialog.innerHTML = part;
    document.body.appendChild(dialog);
    const back = () => {
      dialog.close();
      dialog.remove();
      if (menuButton && document.contains(menuButton)) menuButton.focus();
    };
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); back(); });
    dialog.querySelector('[data-cancel]').addEventListener('click', (e) => { e.preventDefault(); back(); });
    const form = dialog.querySelector('[data-confirm-form]');
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const submit = form.querySelector('button[type="submit"]');
      submit.disabled = true;
      const notice = await Caseload.postForNotice(form.action, new FormData(form));
      dialog.close();
      dialog.remove();
      Caseload.toast(notice);
      const id = form.elements.account_id.value;
      document.dispatchEvent(new CustomEvent('caseload:changed', { detail: { focus: `[aria-controls="menu-${id}"]` } }));
    });
    dialog.showModal();
    dialog.querySelector('[data-cancel]').focus(); // a destructive question starts on the safe answer
  });
  window.addEventListener('resize', () => { if (open) place(open.button, open.list); });
  document.addEventListener('scroll', () => { if (open) place(open.button, open.list); }, true);
});
