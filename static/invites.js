// Invite Users: the chips input and the modal window. Without this file the
// window is a plain page (/invite) with a textarea; this only enhances it.
(function () {
  'use strict';
  if (window.CaseloadInvites) return; // included by the page and the dialog: bind once
  window.CaseloadInvites = true;

  var SEPARATORS = /[,;\s]+/;
  var HEADER = /(^|[\s,;<])(bcc|cc|to|from|reply-to|subject|sender)\s*:/i;
  var SIMPLE = /^[^@\s,;<>"]+@[^@\s,;<>"]+\.[^@\s,;<>".]{2,}$/;
  var CHECK_URL = '/api/v1/invites/check';
  var MAX = 5000;

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : '';
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) node.textContent = text;
    return node;
  }

  // A first answer while typing; the server (email-validator) has the last word.
  function quickReason(text) {
    if (/[\r\n]/.test(text)) return 'An address cannot contain a line break.';
    if (HEADER.test(text)) return 'An address cannot contain a mail header such as “Bcc:”.';
    if (!SIMPLE.test(text)) return 'This is not a valid e-mail address.';
    return '';
  }

  function plural(n, word) { return n + ' ' + word + (n === 1 ? '' : 'es'); }

  // ------------------------------------------------------------------ chips input
  function Chips(textarea) {
    var self = this;
    var field = textarea.closest('[data-chips-field]') || textarea.parentNode;
    var label = field.querySelector('label[for="' + textarea.id + '"]');
    this.textarea = textarea;
    this.chips = [];
    this.box = el('div', { 'class': 'chips' });
    this.list = el('ul', { 'class': 'chips-list', 'aria-label': 'Addresses entered' });
    this.input = el('input', {
      type: 'text', id: textarea.id + '-entry', 'class': 'chips-entry', autocomplete: 'off',
      spellcheck: 'false', inputmode: 'email',
      'aria-describedby': [textarea.getAttribute('aria-describedby') || '', textarea.id + '-summary'].join(' ').trim()
    });
    if (textarea.getAttribute('aria-invalid')) this.input.setAttribute('aria-invalid', 'true');
    this.summary = el('p', { 'class': 'hint chips-summary', id: textarea.id + '-summary' });
    this.live = el('p', { 'class': 'visually-hidden', role: 'status', 'aria-live': 'polite', 'data-chips-live': '' });
    if (label) label.htmlFor = this.input.id;
    this.box.appendChild(this.list);
    this.box.appendChild(this.input);
    textarea.hidden = true;
    textarea.parentNode.insertBefore(this.box, textarea);
    textarea.parentNode.insertBefore(this.summary, textarea.nextSibling);
    textarea.parentNode.insertBefore(this.live, this.summary.nextSibling);

    this.box.addEventListener('click', function (event) {
      if (event.target === self.box || event.target === self.list) self.input.focus();
    });
    this.input.addEventListener('keydown', function (event) { self.onKey(event); });
    this.input.addEventListener('paste', function (event) {
      var text = (event.clipboardData || window.clipboardData).getData('text');
      if (!text) return;
      event.preventDefault();
      self.add((self.input.value + ' ' + text).split(SEPARATORS));
      self.input.value = '';
    });
    this.input.addEventListener('blur', function () { self.commit(); });
    this.add(textarea.value.split(/\r?\n/).join(' ').split(SEPARATORS), true);
    textarea.value = '';
    this.update();
  }

  Chips.prototype.onKey = function (event) {
    var key = event.key;
    if (key === 'Enter' || key === ',' || key === ';' || key === ' ' || key === 'Tab' && this.input.value.trim()) {
      if (key === 'Tab') { this.commit(); return; } // keep the normal Tab order
      event.preventDefault(); // Enter separates entries here; the Invite button submits
      this.commit();
    } else if (key === 'Backspace' && !this.input.value && this.chips.length) {
      event.preventDefault();
      this.chips[this.chips.length - 1].button.focus();
    }
  };

  Chips.prototype.commit = function () {
    var text = this.input.value;
    this.input.value = '';
    if (text.trim()) this.add(text.split(SEPARATORS));
  };

  Chips.prototype.find = function (key) {
    for (var i = 0; i < this.chips.length; i++) {
      var chip = this.chips[i];
      if (chip.key === key || (chip.email && chip.email === key)) return chip;
    }
    return null;
  };

  Chips.prototype.add = function (raws, quiet) {
    var self = this, added = [], merged = [];
    raws.forEach(function (raw) {
      raw = raw.trim();
      if (!raw) return;
      var key = raw.toLowerCase();
      if (self.find(key)) { merged.push(raw); return; }
      var chip = { raw: raw, key: key, email: null, reason: quickReason(raw) };
      self.chips.push(chip);
      self.render(chip);
      added.push(chip);
    });
    if (!quiet && (added.length || merged.length)) {
      var parts = [];
      var bad = added.filter(function (c) { return c.reason; });
      if (added.length === 1 && !bad.length) parts.push('Added ' + added[0].raw + '.');
      else if (added.length) parts.push('Added ' + plural(added.length, 'address') + '.');
      bad.forEach(function (c) { parts.push(c.raw + ' is not valid: ' + c.reason); });
      if (merged.length) parts.push(merged.join(', ') + (merged.length === 1 ? ' is' : ' are') + ' already in the list.');
      this.announce(parts.join(' '));
    }
    this.update();
    this.check();
  };

  Chips.prototype.render = function (chip) {
    var self = this;
    var item = el('li', { 'class': 'chip' });
    var text = el('span', { 'class': 'chip-text' }, chip.raw);
    var reason = el('span', { 'class': 'chip-reason' });
    var button = el('button', { type: 'button', 'class': 'chip-remove', 'aria-label': 'Remove ' + chip.raw });
    button.appendChild(el('span', { 'aria-hidden': 'true' }, '×'));
    button.addEventListener('click', function () { self.remove(chip, true); });
    button.addEventListener('keydown', function (event) {
      var index = self.chips.indexOf(chip);
      if (event.key === 'Backspace' || event.key === 'Delete') {
        event.preventDefault();
        self.remove(chip, true);
      } else if (event.key === 'ArrowLeft' && index > 0) {
        self.chips[index - 1].button.focus();
      } else if (event.key === 'ArrowRight') {
        (self.chips[index + 1] ? self.chips[index + 1].button : self.input).focus();
      }
    });
    item.appendChild(text);
    item.appendChild(reason);
    item.appendChild(button);
    chip.node = item;
    chip.reasonNode = reason;
    chip.button = button;
    this.list.appendChild(item);
    this.paint(chip);
  };

  Chips.prototype.paint = function (chip) {
    chip.node.classList.toggle('chip-invalid', !!chip.reason);
    chip.reasonNode.textContent = chip.reason ? 'Invalid: ' + chip.reason : '';
    chip.node.title = chip.reason || chip.email || chip.raw;
  };

  Chips.prototype.remove = function (chip, announce) {
    var index = this.chips.indexOf(chip);
    if (index < 0) return;
    this.chips.splice(index, 1);
    chip.node.remove();
    if (announce) {
      this.announce('Removed ' + chip.raw + '.');
      (this.chips[index] ? this.chips[index].button : this.input).focus();
    }
    this.update();
  };

  Chips.prototype.update = function () {
    var invalid = this.chips.filter(function (c) { return c.reason; }).length;
    var text = this.chips.length ? plural(this.chips.length, 'address') + (invalid ? ', ' + invalid + ' invalid' : '') + '.' : '';
    if (this.chips.length > MAX) text += ' That is more than ' + MAX.toLocaleString('en') + ' at once: upload a CSV file instead.';
    this.summary.textContent = text;
  };

  Chips.prototype.announce = function (message) {
    var live = this.live;
    live.textContent = '';
    window.setTimeout(function () { live.textContent = message; }, 50);
  };

  // Exact reasons and normalised addresses from the server (email-validator, no network look-ups).
  Chips.prototype.check = function () {
    var self = this;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () {
      var chips = self.chips.slice();
      if (!chips.length || chips.length > MAX) return;
      fetch(CHECK_URL, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': csrf() },
        body: JSON.stringify({ emails: chips.map(function (c) { return c.raw; }) })
      }).then(function (reply) { return reply.ok ? reply.json() : null; }).then(function (body) {
        if (!body || !body.entries) return;
        var merged = [];
        body.entries.forEach(function (entry, i) {
          var chip = chips[i];
          if (!chip || self.chips.indexOf(chip) < 0) return;
          if (entry.duplicate) { merged.push(chip.raw); self.remove(chip, false); return; }
          chip.email = entry.email;
          var before = chip.reason;
          chip.reason = entry.valid ? '' : entry.message;
          self.paint(chip);
          if (chip.reason && chip.reason !== before) self.announce(chip.raw + ' is not valid: ' + chip.reason);
        });
        if (merged.length) self.announce(merged.join(', ') + ' merged with the same address already in the list.');
        self.update();
      }).catch(function () { /* keep the quick answers */ });
    }, 250);
  };

  // What the form sends: one entry per line, invalid ones too, so the result names them.
  Chips.prototype.sync = function () {
    this.commit();
    this.textarea.value = this.chips.map(function (c) { return c.raw; }).join('\n');
  };

  function enhance(root) {
    Array.prototype.forEach.call(root.querySelectorAll('textarea[data-chips]'), function (textarea) {
      if (!textarea.chips) textarea.chips = new Chips(textarea);
    });
  }

  function syncChips(form) {
    Array.prototype.forEach.call(form.querySelectorAll('textarea[data-chips]'), function (textarea) {
      if (textarea.chips) textarea.chips.sync();
    });
  }

  // ------------------------------------------------------------------ the modal window
  var FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), ' +
    'textarea:not([disabled]):not([hidden]), [tabindex]:not([tabindex="-1"])';

  function focusables(dialog) {
    return Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (node) {
      return node.offsetParent !== null || node === document.activeElement;
    });
  }

  function load(dialog, body, request) {
    body.setAttribute('aria-busy', 'true');
    return fetch(request.url, request.init).then(function (reply) {
      return reply.text().then(function (html) { return { ok: reply.status < 500, html: html }; });
    }).then(function (answer) {
      if (!answer.ok) throw new Error('server');
      body.innerHTML = answer.html;
      enhance(body);
    }).catch(function () {
      body.innerHTML = '';
      var alert = el('div', { 'class': 'alert alert-error', role: 'alert' }, 'The Invite Users window could not be loaded. ');
      var link = el('a', { href: dialog.getAttribute('data-src') }, 'Open it as a page');
      alert.appendChild(link);
      body.appendChild(alert);
    }).then(function () { body.setAttribute('aria-busy', 'false'); });
  }

  function openDialog(dialog, opener) {
    var body = dialog.querySelector('[data-invite-body]');
    dialog.opener = opener;
    dialog.showModal();
    load(dialog, body, { url: dialog.getAttribute('data-src'),
      init: { credentials: 'same-origin', headers: { 'X-Fragment': '1' } } }).then(function () {
      if (!dialog.open) return;
      var first = body.querySelector('.chips-entry') || focusables(dialog)[0];
      if (first) first.focus();
    });
  }

  function submitInDialog(dialog, form) {
    var body = dialog.querySelector('[data-invite-body]');
    syncChips(form);
    var button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    load(dialog, body, { url: form.action, init: {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Fragment': '1' },
      body: new URLSearchParams(new FormData(form)).toString() } }).then(function () {
      var target = body.querySelector('[data-invite-results]') || body.querySelector('[aria-invalid=true]') ||
        body.querySelector('.chips-entry');
      if (target) target.focus();
    });
  }

  document.addEventListener('click', function (event) {
    var opener = event.target.closest && event.target.closest('[data-open-invite]');
    var dialog = document.getElementById('invite-dialog');
    if (opener && dialog && typeof dialog.showModal === 'function') {
      event.preventDefault(); // without <dialog> support the link opens /invite
      openDialog(dialog, opener);
      return;
    }
    if (event.target.closest && event.target.closest('[data-close-dialog]')) {
      var open = event.target.closest('dialog');
      if (open) open.close();
    }
  });

  document.addEventListener('keydown', function (event) {
    var dialog = document.getElementById('invite-dialog');
    if (event.key !== 'Tab' || !dialog || !dialog.open) return;
    var nodes = focusables(dialog);
    if (!nodes.length) return;
    var first = nodes[0], last = nodes[nodes.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      first.focus();
    }
  });

  // Escape closes a modal <dialog> natively ("cancel", then "close"); focus goes back to the opener.
  document.addEventListener('close', function (event) {
    var dialog = event.target;
    if (dialog.id === 'invite-dialog' && dialog.opener) {
      dialog.opener.focus();
      dialog.opener = null;
    }
  }, true);

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!form.matches || !form.matches('[data-invite-form]')) return;
    var dialog = form.closest('dialog');
    if (dialog) {
      event.preventDefault();
      submitInDialog(dialog, form);
    } else {
      syncChips(form);
    }
  });

  function start() { enhance(document); }
  if (document.readyState !== 'loading') start(); else document.addEventListener('DOMContentLoaded', start);
})();
