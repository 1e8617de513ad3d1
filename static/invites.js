// Invite Users: the chips input and the modal window. Without this file the
// window is a plain page (/invite) with a textarea; this only enhances it.
// Limits come from the server (data-max on the textarea); the dialog is the
// platform <dialog> (showModal: focus stays inside, Escape asks before typed
// addresses are lost); every form inside the window posts in place (X-Fragment).
(() => {
  if (window.CaseloadInvites) return; // included by the page and the dialog: bind once
  window.CaseloadInvites = true;
  const { el, plural } = Caseload;

  const SEPARATORS = /[,;\s]+/;
  const HEADER = /(^|[\s,;<])(bcc|cc|to|from|reply-to|subject|sender)\s*:/i;
  const SIMPLE = /^[^@\s,;<>"]+@[^@\s,;<>"]+\.[^@\s,;<>".]{2,}$/;

  // A first answer while typing; the server (email-validator) has the last word.
  function quickReason(text) {
    if (/[\r\n]/.test(text)) return 'An address cannot contain a line break.';
    if (HEADER.test(text)) return 'An address cannot contain a mail header such as “Bcc:”.';
    if (!SIMPLE.test(text)) return 'Not an email address like name@example.org.';
    return '';
  }

  const addresses = (n) => plural(n, 'address', 'addresses');

  // ------------------------------------------------------------------ chips input
  class Chips {
    constructor(textarea) {
      const field = textarea.closest('[data-chips-field]') || textarea.parentNode;
      const label = field.querySelector(`label[for="${textarea.id}"]`);
      this.textarea = textarea;
      this.max = Number(textarea.dataset.max);
      this.chips = [];
      this.box = el('div', { class: 'chips' });
      this.list = el('ul', { class: 'chips-list', 'aria-label': 'Addresses entered' });
      this.input = el('input', {
        type: 'text', id: `${textarea.id}-entry`, class: 'chips-entry', autocomplete: 'off',
        spellcheck: 'false', inputmode: 'email',
        'aria-describedby': `${textarea.getAttribute('aria-describedby') || ''} ${textarea.id}-summary`.trim(),
      });
      if (textarea.getAttribute('aria-invalid') === 'true') this.input.setAttribute('aria-invalid', 'true');
      this.summary = el('p', { class: 'hint chips-summary', id: `${textarea.id}-summary` });
      this.notes = el('p', { class: 'chips-notes', 'data-chips-notes': '' });
      this.live = el('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'data-chips-live': '' });
      if (label) label.htmlFor = this.input.id;
      this.box.append(this.list, this.input);
      textarea.hidden = true;
      textarea.before(this.box);
      textarea.after(this.summary, this.notes, this.live);

      this.box.addEventListener('click', (event) => {
        if (event.target === this.box || event.target === this.list) this.input.focus();
      });
      this.input.addEventListener('keydown', (event) => this.onKey(event));
      this.input.addEventListener('paste', (event) => {
        const text = (event.clipboardData || window.clipboardData).getData('text');
        if (!text) return;
        event.preventDefault();
        this.add(`${this.input.value} ${text}`.split(SEPARATORS));
        this.input.value = '';
      });
      this.input.addEventListener('blur', () => this.commit());
      this.add(textarea.value.split(/\r?\n/).join(' ').split(SEPARATORS), true);
      textarea.value = '';
      this.update();
      // The server's error was about the addresses as sent: once they change, it no longer applies.
      this.sentError = document.getElementById(`${textarea.id}-error`);
    }

    get count() { return this.chips.length + (this.input.value.trim() ? 1 : 0); }
    get invalid() { return this.chips.filter((c) => c.reason); }

    onKey(event) {
      const { key } = event;
      if (key === 'Enter' || key === ',' || key === ';' || key === ' ' || (key === 'Tab' && this.input.value.trim())) {
        if (key === 'Tab') { this.commit(); return; } // keep the normal Tab order
        event.preventDefault(); // Enter separates entries here; the Invite button submits
        this.commit();
      } else if (key === 'Backspace' && !this.input.value && this.chips.length) {
        event.preventDefault();
        this.chips[this.chips.length - 1].button.focus();
      }
    }

    commit() {
      const text = this.input.value;
      this.input.value = '';
      if (text.trim()) this.add(text.split(SEPARATORS));
    }

    find(key) { return this.chips.find((c) => c.key === key || (c.email && c.email === key)) || null; }

    add(raws, quiet = false) {
      const added = [], merged = [];
      for (let raw of raws) {
        raw = raw.trim();
        if (!raw) continue;
        const key = raw.toLowerCase();
        if (this.find(key)) { merged.push(raw); continue; }
        const chip = { raw, key, email: null, reason: quickReason(raw), member: false };
        this.chips.push(chip);
        this.render(chip);
        added.push(chip);
      }
      if (merged.length) this.note(`Dropped ${merged.join(', ')}: already in the list.`);
      if (!quiet && (added.length || merged.length)) {
        const parts = [];
        const bad = added.filter((c) => c.reason);
        if (added.length === 1 && !bad.length) parts.push(`Added ${added[0].raw}.`);
        else if (added.length) parts.push(`Added ${addresses(added.length)}.`);
        for (const c of bad) parts.push(`${c.raw} is not valid: ${c.reason}`);
        if (merged.length) parts.push(`${merged.join(', ')} ${merged.length === 1 ? 'is' : 'are'} already in the list.`);
        Caseload.announce(this.live, parts.join(' '));
      }
      this.update();
      this.check();
    }

    render(chip) {
      const item = el('li', { class: 'chip' });
      const text = el('span', { class: 'chip-text' }, chip.raw);
      const reason = el('span', { class: 'chip-reason' });
      const button = el('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${chip.raw}` });
      button.appendChild(el('span', { 'aria-hidden': 'true' }, '×'));
      button.addEventListener('click', () => this.remove(chip, true));
      button.addEventListener('keydown', (event) => {
        const index = this.chips.indexOf(chip);
        if (event.key === 'Backspace' || event.key === 'Delete') {
          event.preventDefault();
          this.remove(chip, true);
        } else if (event.key === 'ArrowLeft' && index > 0) {
          this.chips[index - 1].button.focus();
        } else if (event.key === 'ArrowRight') {
          (this.chips[index + 1] ? this.chips[index + 1].button : this.input).focus();
        }
      });
      item.append(text, reason, button);
      Object.assign(chip, { node: item, reasonNode: reason, button });
      this.list.appendChild(item);
      this.paint(chip);
    }

    // One short message per problem; "Already a member" is a note, not an error.
    paint(chip) {
      chip.node.classList.toggle('chip-invalid', !!chip.reason);
      chip.node.classList.toggle('chip-member', !chip.reason && chip.member);
      chip.reasonNode.textContent = chip.reason || (chip.member ? 'Already a member' : '') ||
        (chip.suppressed ? 'Bounced before: will not be invited' : '');
      chip.node.title = chip.reason || chip.email || chip.raw;
    }

    remove(chip, announce) {
      const index = this.chips.indexOf(chip);
      if (index < 0) return;
      this.chips.splice(index, 1);
      chip.node.remove();
      if (announce) {
        Caseload.announce(this.live, `Removed ${chip.raw}.`);
        (this.chips[index] ? this.chips[index].button : this.input).focus();
      }
      this.update();
    }

    note(text) { this.notes.textContent = text; }

    update() {
      const invalid = this.invalid.length;
      const members = this.chips.filter((c) => !c.reason && c.member).length;
      let text = '';
      if (this.chips.length) {
        text = `${addresses(this.chips.length)}`;
        if (invalid) text += `, ${addresses(invalid)} ${invalid === 1 ? 'needs' : 'need'} fixing`;
        if (members) text += `, ${members} already ${members === 1 ? 'a member' : 'members'}`;
        text += '.';
      }
      if (this.chips.length > this.max) text += ` That is more than ${this.max.toLocaleString('en')} at once: upload a CSV file instead.`;
      this.summary.textContent = text;
      this.summary.classList.toggle('chips-summary-bad', invalid > 0);
      if (this.sentError) {
        this.sentError.remove();
        this.sentError = null;
        this.input.removeAttribute('aria-invalid');
      }
      if (!invalid) this.textarea.form?.querySelector('[data-invite-blocked]')?.replaceChildren();
    }

    // Exact reasons, normalised addresses and members from the server (nothing is created).
    check() {
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(async () => {
        const chips = this.chips.slice();
        if (!chips.length || chips.length > this.max) return;
        let body;
        try {
          body = await Caseload.api('POST', this.textarea.dataset.check, { emails: chips.map((c) => c.raw) });
        } catch { return; } // keep the quick answers
        const merged = [];
        body.entries.forEach((entry, i) => {
          const chip = chips[i];
          if (!chip || !this.chips.includes(chip)) return;
          if (entry.duplicate) { merged.push(chip.raw); this.remove(chip, false); return; }
          const before = chip.reason;
          Object.assign(chip, { email: entry.email, reason: entry.valid ? '' : entry.message,
                                member: !!entry.exists, suppressed: !!entry.suppressed });
          this.paint(chip);
          if (chip.reason && chip.reason !== before) Caseload.announce(this.live, `${chip.raw} is not valid: ${chip.reason}`);
        });
        if (merged.length) {
          this.note(`Dropped ${merged.join(', ')}: the same address is already in the list.`);
          Caseload.announce(this.live, `${merged.join(', ')} merged with the same address already in the list.`);
        }
        this.update();
      }, 250);
    }

    // What the form sends: one entry per line, invalid ones too, so the result names them.
    sync() {
      this.commit();
      this.textarea.value = this.chips.map((c) => c.raw).join('\n');
    }
  }

  // ------------------------------------------------------------------ CSV upload: S3, dry run, import
  // Limits and labels come from the server (data-max-bytes, data-labels on the section).
  const { api } = Caseload;

  class Upload {
    constructor(section) {
      this.section = section;
      this.base = section.dataset.start;
      this.maxBytes = Number(section.dataset.maxBytes);
      this.labels = JSON.parse(section.dataset.labels);
      this.status = section.querySelector('[data-csv-status]');
      this.progress = section.querySelector('[data-csv-progress]');
      this.summary = section.querySelector('[data-csv-summary]');
      this.actions = section.querySelector('[data-csv-actions]');
      this.file = section.querySelector('[data-csv-file]');
      section.querySelector('[data-csv-nojs]').hidden = true;
      section.querySelector('[data-csv-ui]').hidden = false;
      this.file.addEventListener('change', () => this.start());
      section.querySelector('[data-csv-commit]').addEventListener('click', () => this.commit());
      section.querySelector('[data-csv-cancel]').addEventListener('click', () => this.cancel());
    }

    say(text, problem) {
      this.status.textContent = text;
      this.status.setAttribute('role', problem ? 'alert' : 'status');
      this.status.classList.toggle('csv-problem', !!problem);
    }

    async start() {
      const file = this.file.files[0];
      if (!file) return;
      this.summary.textContent = '';
      this.actions.hidden = true;
      this.progress.hidden = true;
      if (file.size > this.maxBytes) {
        this.say(`The file is larger than ${Math.round(this.maxBytes / 1048576)} MB. Split it into smaller files.`, true);
        return;
      }
      if (!file.size) { this.say('The file is empty.', true); return; }
      this.say(`Uploading ${file.name}…`);
      try {
        const started = await api('POST', this.base, { filename: file.name });
        this.jobId = started.job_id;
        const form = new FormData();
        for (const [name, value] of Object.entries(started.upload.fields)) form.append(name, value);
        form.append('file', file); // S3 wants the file last
        const reply = await fetch(started.upload.url, { method: 'POST', body: form });
        if (!reply.ok) throw new Error('The upload did not go through. Try again.');
        this.say(`Checking ${file.name}… nobody is invited yet.`);
        this.poll();
      } catch (error) {
        this.say(error.message, true);
      }
    }

    // One call to the job's API; its answer is shown, a refusal is said.
    async call(method, path, body) {
      try {
        this.show(await api(method, `${this.base}/${this.jobId}${path}`, body));
      } catch (error) {
        this.say(error.message, true);
      }
    }

    poll() {
      window.clearTimeout(this.timer);
      if (!document.contains(this.section)) return; // the window was closed or replaced
      this.call('GET', '');
    }

    later() {
      this.timer = window.setTimeout(() => this.poll(), 700);
    }

    counts(title, counts, labels) {
      const box = el('div', { class: 'csv-counts' });
      box.appendChild(el('h3', {}, title));
      const list = el('dl', { class: 'csv-count-list' });
      for (const [key, label] of labels) {
        const item = el('div');
        item.appendChild(el('dt', {}, label));
        item.appendChild(el('dd', { 'data-count': key }, String(counts[key] || 0)));
        list.appendChild(item);
      }
      box.appendChild(list);
      return box;
    }

    details(job) {
      if (job.errors && job.errors.length) {
        const list = el('ul', { class: 'csv-errors', 'aria-label': 'Rows with problems' });
        for (const error of job.errors) {
          list.appendChild(el('li', {}, `Row ${error.row}${error.email ? ` (${error.email})` : ''}: ${error.problem}`));
        }
        this.summary.appendChild(list);
      }
      if (job.has_report) {
        const link = el('a', { href: `${this.section.dataset.report}${job.job_id}/errors.csv`, class: 'csv-report' },
          'Download the error report (CSV)');
        this.summary.appendChild(el('p')).appendChild(link);
      }
    }

    show(job) {
      const rows = job.planned || 0; // the import goes through the rows the dry run found to invite
      this.summary.textContent = '';
      this.actions.hidden = job.status !== 'ready';
      this.progress.hidden = !['importing', 'done'].includes(job.status);
      if (job.status === 'waiting' || job.status === 'checking') {
        this.later();
      } else if (job.status === 'failed') {
        this.say(job.message || 'The file cannot be imported.', true);
      } else if (job.status === 'ready') {
        const invitable = (job.dry_run || {}).would_invite || 0;
        this.section.querySelector('[data-csv-commit]').hidden = !invitable;
        this.say(invitable ? `Dry run of ${job.filename}: nobody has been invited yet. Invite, or Cancel.`
          : `Dry run of ${job.filename}: nobody in it can be invited. Cancel, then choose another file.`);
        this.summary.appendChild(this.counts('Dry run', job.dry_run, this.labels.dry_run));
        this.details(job);
      } else if (job.status === 'importing') {
        this.progress.value = rows ? Math.round(100 * job.rows_done / rows) : 0;
        this.say(`Importing: ${job.rows_done} of ${rows} people done.`);
        this.later();
      } else if (job.status === 'done') {
        this.progress.value = 100;
        this.say(`Import finished: ${job.result.invited || 0} invited.`);
        this.summary.appendChild(this.counts('Summary', job.result, this.labels.result));
        this.details(job);
      } else if (job.status === 'cancelled') {
        this.say(`Cancelled: nobody was invited from ${job.filename}.`);
      }
    }

    // The pressed button hides: focus goes to the status line that says what happens next, not to <body>.
    keepFocus() {
      this.status.tabIndex = -1;
      this.status.focus();
    }

    commit() {
      const toggle = document.querySelector('#f-send-email');
      this.actions.hidden = true;
      this.keepFocus();
      this.call('POST', '/commit', { send_email: toggle ? toggle.checked : true });
    }

    cancel() {
      this.actions.hidden = true;
      this.keepFocus();
      this.call('POST', '/cancel');
    }
  }

  function enhance(root) {
    for (const textarea of root.querySelectorAll('textarea[data-chips]')) if (!textarea.chips) textarea.chips = new Chips(textarea);
    for (const section of root.querySelectorAll('[data-csv-upload]')) if (!section.upload) section.upload = new Upload(section);
  }

  const chipsOf = (root) => [...root.querySelectorAll('textarea[data-chips]')].map((t) => t.chips).filter(Boolean);

  // Invite is refused while an address needs fixing: the count, next to the button.
  function refuse(form) {
    const bad = chipsOf(form).reduce((n, chips) => n + chips.invalid.length, 0);
    if (!bad) return false;
    const message = `${addresses(bad)} ${bad === 1 ? 'needs' : 'need'} fixing: correct or remove ${bad === 1 ? 'it' : 'them'} first.`;
    form.querySelector('[data-invite-blocked]').textContent = message;
    chipsOf(form)[0].invalid[0].button.focus();
    return true;
  }

  // ------------------------------------------------------------------ the modal window
  const body = (dialog) => dialog.querySelector('[data-invite-body]');

  async function load(dialog, url, init = {}) {
    const target = body(dialog);
    target.setAttribute('aria-busy', 'true');
    try {
      const { reply, html } = await Caseload.fragment(url, init);
      if (reply.status >= 500) throw new Error('server');
      target.innerHTML = html;
      enhance(target);
    } catch {
      target.replaceChildren();
      const alert = el('div', { class: 'alert alert-error', role: 'alert' }, 'The Invite Users window could not be loaded. ');
      alert.appendChild(el('a', { href: dialog.dataset.src }, 'Open it as a page'));
      target.appendChild(alert);
    } finally {
      target.setAttribute('aria-busy', 'false');
    }
  }

  async function openDialog(dialog, opener) {
    dialog.opener = opener;
    dialog.showModal();
    await load(dialog, dialog.dataset.src);
    if (!dialog.open) return;
    body(dialog).scrollTop = 0;
    dialog.scrollTop = 0;
    const first = body(dialog).querySelector('.chips-entry, input:not([type=hidden]), select, textarea');
    if (first) first.focus();
  }

  // Any form inside the window posts in place: errors stay in the window, next to their fields.
  async function submitInDialog(dialog, form, submitter) {
    chipsOf(form).forEach((chips) => chips.sync());
    const data = new FormData(form, submitter);
    const action = submitter?.getAttribute('formaction') || form.action;
    for (const button of form.querySelectorAll('button')) button.disabled = true;
    const wasInvite = form.matches('[data-invite-form]');
    const openSettings = !!form.closest('.link-settings');
    await load(dialog, action, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
                                 body: new URLSearchParams(data).toString() });
    const root = body(dialog);
    if (openSettings) root.querySelector('.link-settings')?.setAttribute('open', '');
    const results = root.querySelector('[data-invite-results]');
    const focus = root.querySelector('[aria-invalid=true]') || results || root.querySelector('[data-notice]') ||
      root.querySelector('.chips-entry');
    if (focus) {
      if (!focus.matches('input, select, textarea, button, a')) focus.setAttribute('tabindex', '-1');
      focus.focus();
    }
    if (wasInvite && results && Number(results.dataset.invited) > 0) {
      // The table and boxes behind the window refresh now; on closing, a toast offers the new rows.
      dialog.invited = (dialog.invited || 0) + Number(results.dataset.invited);
      document.dispatchEvent(new CustomEvent('caseload:invited', { detail: { invited: dialog.invited } }));
    }
  }

  // Typed work survives: closing with addresses in the field asks first.
  function askBeforeClosing(dialog) {
    const typed = chipsOf(dialog).reduce((n, chips) => n + chips.count, 0);
    if (!typed) return false;
    let bar = dialog.querySelector('[data-discard]');
    if (!bar) {
      bar = el('div', { class: 'discard-bar', role: 'alertdialog', 'aria-labelledby': 'discard-question', 'data-discard': '' });
      bar.appendChild(el('p', { id: 'discard-question' }));
      const discard = el('button', { type: 'button', class: 'btn btn-danger' }, 'Discard');
      const keep = el('button', { type: 'button', class: 'btn btn-secondary' }, 'Keep editing');
      discard.addEventListener('click', () => { bar.remove(); dialog.discarding = true; dialog.close(); });
      keep.addEventListener('click', () => { bar.remove(); dialog.querySelector('.chips-entry')?.focus(); });
      bar.append(discard, keep);
      dialog.querySelector('.dialog-head').after(bar);
    }
    bar.querySelector('p').textContent = `Discard ${addresses(typed)}?`;
    bar.querySelector('.btn-secondary').focus();
    return true;
  }

  document.addEventListener('click', (event) => {
    const opener = event.target.closest?.('[data-open-invite]');
    const dialog = document.getElementById('invite-dialog');
    if (opener && dialog && typeof dialog.showModal === 'function') {
      event.preventDefault(); // without <dialog> support the link opens /invite
      openDialog(dialog, opener);
      return;
    }
    if (event.target.closest?.('[data-close-dialog]')) {
      const open = event.target.closest('dialog');
      if (open && !askBeforeClosing(open)) open.close();
    }
  });

  // showModal makes the page behind inert; Tab past the last control would leave
  // for the browser's own toolbar, so it wraps to the window's first control.
  document.addEventListener('keydown', (event) => {
    const dialog = document.getElementById('invite-dialog');
    if (event.key !== 'Tab' || !dialog?.open) return;
    const nodes = [...dialog.querySelectorAll('a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]):not([hidden]), summary, [tabindex="0"]')]
      .filter((node) => node.offsetParent !== null || node === document.activeElement);
    if (!nodes.length) return;
    const first = nodes[0], last = nodes[nodes.length - 1];
    if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
  });

  // Escape: the platform's "cancel" event; with typed addresses it asks instead of closing.
  document.addEventListener('cancel', (event) => {
    const dialog = event.target;
    if (dialog.id === 'invite-dialog' && askBeforeClosing(dialog)) event.preventDefault();
  }, true);

  document.addEventListener('close', (event) => {
    const dialog = event.target;
    if (dialog.id !== 'invite-dialog') return;
    dialog.querySelector('[data-discard]')?.remove();
    if (dialog.discarding) { body(dialog).replaceChildren(); dialog.discarding = false; }
    if (dialog.opener) { dialog.opener.focus(); dialog.opener = null; }
    if (dialog.invited) {
      Caseload.toast(`${dialog.invited} invited`, { href: dialog.dataset.view, text: 'View' });
      dialog.invited = 0;
    }
  }, true);

  document.addEventListener('submit', (event) => {
    const form = event.target;
    const inWindow = form.closest('[data-invite-window]');
    if (!inWindow) return;
    if (form.matches('[data-invite-form]') && refuse(form)) { event.preventDefault(); return; }
    const dialog = form.closest('dialog');
    if (dialog) {
      event.preventDefault();
      submitInDialog(dialog, form, event.submitter);
    } else {
      chipsOf(form).forEach((chips) => chips.sync());
    }
  });

  Caseload.ready(() => enhance(document));
})();

// Copy buttons (the organisation account link): the clipboard, or selected text to copy by hand.
document.addEventListener('click', (event) => {
  const button = event.target.closest('[data-copy]');
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  const status = button.parentNode.querySelector('[data-copy-status]');
  if (!field) return;
  field.select();
  const done = (text) => { if (status) status.textContent = text; button.textContent = 'Copied'; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(() => done('Link copied.'), () => done('Press Ctrl+C to copy the selected link.'));
  } else {
    try { document.execCommand('copy'); done('Link copied.'); } catch { done('Press Ctrl+C to copy the selected link.'); }
  }
});
