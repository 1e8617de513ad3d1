// Invite Users: the chips input and the modal window. Without this file the
// window is a plain page (/invite) with a textarea; this only enhances it.
(function () {
  'use strict';
  if (window.CaseloadInvites) return; // included by the page and the dialog: bind once
  window.CaseloadInvites = true;

  var SEPARATORS = /[,;\s]+/;
  var HEADER = /(^|[\s,;<])(bcc|cc|to|from|reply-to|subject|sender)\s*:/i;
  var SIMPLE = /^[^@\s,;<>"]+@[^@\s,;<>"]+\.[^@\s,;<>".]{2,}$/;
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
      fetch(self.textarea.getAttribute('data-check'), {
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


  // ------------------------------------------------------------------ CSV upload: S3, dry run, import
  var MAX_BYTES = 10 * 1024 * 1024;
  var DRY_RUN = [['rows', 'rows in the file'], ['would_invite', 'would be invited'],
    ['exists', 'already have an account'], ['duplicates', 'duplicates within the file'], ['invalid', 'invalid'],
    ['suppressed', 'suppressed (bounced before)']];
  var RESULT = [['invited', 'invited'], ['exists', 'already had an account'],
    ['duplicates', 'duplicates within the file'], ['invalid', 'invalid'], ['suppressed', 'suppressed (bounced before)']];

  function api(method, url, body) {
    return fetch(url, {
      method: method, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': csrf() },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (reply) {
      return reply.json().catch(function () { return {}; }).then(function (json) {
        if (!reply.ok) throw new Error(json.message || 'Something went wrong. Try again.');
        return json;
      });
    });
  }

  function Upload(section) {
    var self = this;
    this.section = section;
    this.base = section.getAttribute('data-start');
    this.status = section.querySelector('[data-csv-status]');
    this.progress = section.querySelector('[data-csv-progress]');
    this.summary = section.querySelector('[data-csv-summary]');
    this.actions = section.querySelector('[data-csv-actions]');
    this.file = section.querySelector('[data-csv-file]');
    section.querySelector('[data-csv-nojs]').hidden = true;
    section.querySelector('[data-csv-ui]').hidden = false;
    this.file.addEventListener('change', function () { self.start(); });
    section.querySelector('[data-csv-commit]').addEventListener('click', function () { self.commit(); });
    section.querySelector('[data-csv-cancel]').addEventListener('click', function () { self.cancel(); });
  }

  Upload.prototype.say = function (text, problem) {
    this.status.textContent = text;
    this.status.setAttribute('role', problem ? 'alert' : 'status');
    this.status.classList.toggle('csv-problem', !!problem);
  };

  Upload.prototype.start = function () {
    var self = this, file = this.file.files[0];
    if (!file) return;
    this.summary.textContent = '';
    this.actions.hidden = true;
    this.progress.hidden = true;
    if (file.size > MAX_BYTES) { this.say('The file is larger than 10 MB. Split it into smaller files.', true); return; }
    if (!file.size) { this.say('The file is empty.', true); return; }
    this.say('Uploading ' + file.name + '…');
    api('POST', this.base, { filename: file.name }).then(function (started) {
      self.jobId = started.job_id;
      var form = new FormData();
      Object.keys(started.upload.fields).forEach(function (name) { form.append(name, started.upload.fields[name]); });
      form.append('file', file); // S3 wants the file last
      return fetch(started.upload.url, { method: 'POST', body: form }).then(function (reply) {
        if (!reply.ok) throw new Error('The upload did not go through. Try again.');
        self.say('Checking ' + file.name + '… nobody is invited yet.');
        self.poll();
      });
    }).catch(function (error) { self.say(error.message, true); });
  };

  Upload.prototype.poll = function () {
    var self = this;
    window.clearTimeout(this.timer);
    if (!document.contains(this.section)) return; // the window was closed or replaced
    api('GET', this.base + '/' + this.jobId).then(function (job) { self.show(job); })
      .catch(function (error) { self.say(error.message, true); });
  };

  Upload.prototype.later = function () {
    var self = this;
    this.timer = window.setTimeout(function () { self.poll(); }, 700);
  };

  Upload.prototype.counts = function (title, counts, labels) {
    var box = el('div', { 'class': 'csv-counts' });
    box.appendChild(el('h3', {}, title));
    var list = el('dl', { 'class': 'csv-count-list' });
    labels.forEach(function (pair) {
      var item = el('div');
      item.appendChild(el('dt', {}, pair[1]));
      item.appendChild(el('dd', { 'data-count': pair[0] }, String(counts[pair[0]] || 0)));
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  };

  Upload.prototype.details = function (job) {
    if (job.errors && job.errors.length) {
      var list = el('ul', { 'class': 'csv-errors', 'aria-label': 'Rows with problems' });
      job.errors.forEach(function (error) {
        list.appendChild(el('li', {}, 'Row ' + error.row + (error.email ? ' (' + error.email + ')' : '') + ': ' + error.problem));
      });
      this.summary.appendChild(list);
    }
    if (job.has_report) {
      var link = el('a', { href: this.section.getAttribute('data-report') + job.job_id + '/errors.csv', 'class': 'csv-report' },
        'Download the error report (CSV)');
      this.summary.appendChild(el('p')).appendChild(link);
    }
  };

  Upload.prototype.show = function (job) {
    var rows = job.planned || 0; // the import goes through the rows the dry run found to invite
    this.summary.textContent = '';
    this.actions.hidden = job.status !== 'ready';
    this.progress.hidden = ['importing', 'done'].indexOf(job.status) < 0;
    if (job.status === 'waiting' || job.status === 'checking') {
      this.later();
    } else if (job.status === 'failed') {
      this.say(job.message || 'The file cannot be imported.', true);
    } else if (job.status === 'ready') {
      this.say('Dry run of ' + job.filename + ': nobody has been invited yet. Invite, or Cancel.');
      this.summary.appendChild(this.counts('Dry run', job.dry_run, DRY_RUN));
      this.details(job);
    } else if (job.status === 'importing') {
      this.progress.value = rows ? Math.round(100 * job.rows_done / rows) : 0;
      this.say('Importing: ' + job.rows_done + ' of ' + rows + ' people done.');
      this.later();
    } else if (job.status === 'done') {
      this.progress.value = 100;
      this.say('Import finished: ' + (job.result.invited || 0) + ' invited.');
      this.summary.appendChild(this.counts('Summary', job.result, RESULT));
      this.details(job);
    } else if (job.status === 'cancelled') {
      this.say('Cancelled: nobody was invited from ' + job.filename + '.');
    }
  };

  Upload.prototype.commit = function () {
    var self = this;
    var toggle = document.querySelector('#f-send-email');
    this.actions.hidden = true;
    api('POST', this.base + '/' + this.jobId + '/commit', { send_email: toggle ? toggle.checked : true })
      .then(function (job) { self.show(job); }).catch(function (error) { self.say(error.message, true); });
  };

  Upload.prototype.cancel = function () {
    var self = this;
    api('POST', this.base + '/' + this.jobId + '/cancel').then(function (job) { self.show(job); })
      .catch(function (error) { self.say(error.message, true); });
  };

  function enhance(root) {
    Array.prototype.forEach.call(root.querySelectorAll('textarea[data-chips]'), function (textarea) {
      if (!textarea.chips) textarea.chips = new Chips(textarea);
    });
    Array.prototype.forEach.call(root.querySelectorAll('[data-csv-upload]'), function (section) {
      if (!section.upload) section.upload = new Upload(section);
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

// Copy buttons (the organisation account link): the clipboard, or selected text to copy by hand.
document.addEventListener('click', function (event) {
  var button = event.target.closest('[data-copy]');
  if (!button) return;
  var field = document.querySelector(button.getAttribute('data-copy'));
  var status = button.parentNode.querySelector('[data-copy-status]');
  if (!field) return;
  field.select();
  var done = function (text) { if (status) status.textContent = text; button.textContent = 'Copied'; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(function () { done('Link copied.'); },
      function () { done('Press Ctrl+C to copy the selected link.'); });
  } else {
    try { document.execCommand('copy'); done('Link copied.'); } catch (e) { done('Press Ctrl+C to copy the selected link.'); }
  }
});
