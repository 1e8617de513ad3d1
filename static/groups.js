// Manage Groups: the modal window. Without this file the window is a plain page
// (/groups): every link and form there works as is; this only runs them inside
// the <dialog> (fragments fetched with Caseload.fragment: X-Fragment: 1) and keeps focus sensible.
(function () {
  'use strict';
  if (window.CaseloadGroups) return;
  window.CaseloadGroups = true;

  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])';
  var POLL_MS = 2000;
  var poll = null;

  function dialog() { return document.getElementById('groups-dialog'); }
  function body() { var d = dialog(); return d && d.querySelector('[data-groups-body]'); }

  function focusables(root) {
    return Array.prototype.filter.call(root.querySelectorAll(FOCUSABLE), function (node) {
      return node.offsetParent !== null || node === document.activeElement;
    });
  }

  function settle(focusHint) {
    var root = body();
    var target = root.querySelector('[autofocus]') || (focusHint && root.querySelector(focusHint)) ||
      root.querySelector('[role=status]') && root.querySelector('#f-new-group') || focusables(dialog())[0];
    if (target) target.focus();
    var window_ = root.querySelector('[data-groups-window]');
    clearTimeout(poll);
    if (window_ && window_.hasAttribute('data-deleting')) poll = setTimeout(refresh, POLL_MS);
  }

  function load(url, init, focusHint) {
    var root = body();
    root.setAttribute('aria-busy', 'true');
    return Caseload.fragment(url, init || {}).then(function (answer) {
      if (answer.reply.status >= 500) throw new Error('server');
      root.innerHTML = answer.html;
      settle(focusHint);
    }).catch(function () {
      root.innerHTML = '';
      var alert = document.createElement('div');
      alert.className = 'alert alert-error';
      alert.setAttribute('role', 'alert');
      alert.textContent = 'The Manage Groups window could not be loaded. ';
      var link = document.createElement('a');
      link.href = dialog().getAttribute('data-src');
      link.textContent = 'Open it as a page';
      alert.appendChild(link);
      root.appendChild(alert);
      link.focus();
    }).then(function () { root.setAttribute('aria-busy', 'false'); });
  }

  // While a group's members are being ungrouped, show its progress (unless someone is typing).
  function refresh() {
    var d = dialog();
    if (!d || !d.open) return;
    var active = document.activeElement;
    if (active && active.tagName === 'INPUT' && active.value) { poll = setTimeout(refresh, POLL_MS); return; }
    var root = body();
    Caseload.fragment(d.getAttribute('data-src'))
      .then(function (answer) { return answer.reply.ok ? answer.html : Promise.reject(); })
      .then(function (html) {
        var hadFocus = root.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
        root.innerHTML = html;
        var back = hadFocus && root.querySelector('[aria-label="' + hadFocus.replace(/"/g, '\\"') + '"]');
        if (back) back.focus(); else if (hadFocus !== null) (root.querySelector('#f-new-group') || d).focus();
        var w = root.querySelector('[data-groups-window]');
        if (w && w.hasAttribute('data-deleting')) poll = setTimeout(refresh, POLL_MS);
      })
      .catch(function () { poll = setTimeout(refresh, POLL_MS * 2); });
  }

  function open(opener) {
    var d = dialog();
    d.opener = opener;
    d.showModal();
    load(d.getAttribute('data-src'), null, '#f-new-group');
  }

  function close() {
    var d = dialog();
    clearTimeout(poll);
    d.close();
  }

  // A group name typed and not saved: closing asks first (the bar of the Invite Users window).
  function typedName(d) {
    return Array.prototype.filter.call(d.querySelectorAll('input[type=text]'), function (input) {
      return input.id === 'f-new-group' ? input.value.trim() : input.value !== input.defaultValue;
    })[0];
  }

  function askBeforeClosing(d) {
    var typed = typedName(d);
    if (!typed) return false;
    var bar = d.querySelector('[data-discard]');
    if (!bar) {
      bar = document.createElement('div');
      bar.className = 'discard-bar';
      bar.setAttribute('role', 'alertdialog');
      bar.setAttribute('aria-labelledby', 'groups-discard-question');
      bar.setAttribute('data-discard', '');
      var question = document.createElement('p');
      question.id = 'groups-discard-question';
      question.textContent = 'Discard the group name you typed?';
      var discard = document.createElement('button');
      discard.type = 'button';
      discard.className = 'btn btn-danger';
      discard.textContent = 'Discard';
      var keep = document.createElement('button');
      keep.type = 'button';
      keep.className = 'btn btn-secondary';
      keep.textContent = 'Keep editing';
      discard.addEventListener('click', function () { bar.remove(); typed.value = ''; close(); });
      keep.addEventListener('click', function () { bar.remove(); typed.focus(); });
      bar.append(question, discard, keep);
      d.querySelector('.dialog-head').after(bar);
    }
    bar.querySelector('.btn-secondary').focus();
    return true;
  }

  document.addEventListener('cancel', function (event) {
    if (event.target.id === 'groups-dialog' && askBeforeClosing(event.target)) event.preventDefault();
  }, true);

  document.addEventListener('click', function (event) {
    if (!event.target.closest) return;
    var opener = event.target.closest('[data-open-groups]');
    var d = dialog();
    if (opener && d && typeof d.showModal === 'function') {
      event.preventDefault();
      open(opener);
      return;
    }
    if (event.target.closest('[data-close-groups]')) { if (!askBeforeClosing(d)) close(); return; }
    var link = event.target.closest('[data-groups-body] [data-window-link]');
    if (link) {
      event.preventDefault();
      load(link.href);
    }
  });

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form.matches || !form.matches('[data-groups-body] [data-groups-form]')) return;
    event.preventDefault();
    var button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    load(form.action, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(new FormData(form)).toString() }, '#f-new-group');
  });

  // Escape inside a rename field or a confirmation cancels that, not the whole window.
  document.addEventListener('keydown', function (event) {
    var d = dialog();
    if (!d || !d.open) return;
    if (event.key === 'Escape') {
      var cancel = event.target.closest && event.target.closest('.group-row') &&
        event.target.closest('.group-row').querySelector('[data-cancel]');
      if (cancel) { event.preventDefault(); load(cancel.href); }
      return;
    }
    if (event.key !== 'Tab') return;
    var nodes = focusables(d);
    if (!nodes.length) return;
    var first = nodes[0], last = nodes[nodes.length - 1];
    if (event.shiftKey && (document.activeElement === first || !d.contains(document.activeElement))) {
      event.preventDefault(); last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !d.contains(document.activeElement))) {
      event.preventDefault(); first.focus();
    }
  });

  document.addEventListener('close', function (event) {
    var d = event.target;
    if (d.id !== 'groups-dialog') return;
    clearTimeout(poll);
    if (d.opener) { d.opener.focus(); d.opener = null; }
  }, true);
})();
