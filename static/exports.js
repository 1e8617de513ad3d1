// Export CSV: the filters change in place (clients.js keeps them in the URL), so the
// button sends the filters of the moment. Without JavaScript every change reloads
// the page and the server-rendered fields are already current.
Caseload.ready(() => {
  const form = document.querySelector('[data-export-form]');
  if (!form) return;
  form.addEventListener('submit', () => {
    form.querySelectorAll('input[data-filter]').forEach((input) => input.remove());
    for (const [name, value] of new URLSearchParams(window.location.search)) {
      if (name === 'cursor' || name === 'csrf_token' || name === 'notice') continue;
      const input = document.createElement('input');
      Object.assign(input, { type: 'hidden', name, value });
      input.dataset.filter = '';
      form.append(input);
    }
  });
});

// A background export's page: follow its progress (backing off), then show the link.
// Without JavaScript the page's Refresh button does the same.
Caseload.ready(() => {
  const status = document.querySelector('[data-export-status="running"]');
  if (!status) return;
  const rows = status.querySelector('[data-rows]');
  const bar = status.querySelector('progress');
  let delay = 1000;
  const poll = async () => {
    try {
      const reply = await fetch(status.dataset.exportUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (reply.ok) {
        const found = await reply.json();
        if (found.status !== 'running') { window.location.reload(); return; }
        rows.textContent = found.rows.toLocaleString('en-GB');
        if (bar) bar.value = Math.min(found.rows, Number(bar.max));
      }
    } catch (error) { /* offline for a moment: try again later */ }
    delay = Math.min(delay * 1.5, 10000);
    setTimeout(poll, delay);
  };
  setTimeout(poll, delay);
});
