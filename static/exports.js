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
