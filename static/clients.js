// Clients Table: filters and search update the results without a full reload.
// The form and links work without this file; here the URL follows every change,
// so bookmarks and Back behave as with plain links.
Caseload.ready(() => {
  const form = document.querySelector('[data-live-filters]');
  const results = document.getElementById('results');
  if (!form || !results) return;
  let timer = null;
  let inflight = null;

  const queryOf = (data) => {
    const params = new URLSearchParams();
    for (const [key, value] of data) {
      if (value !== '' && !(key === 'no_visit' && value === '0') && !(key === 'sort' && value === 'name') &&
          !(key === 'dir' && value === 'asc') && !(key === 'size' && value === '25')) params.append(key, value);
    }
    return params.toString();
  };

  async function load(url, push) {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    results.setAttribute('aria-busy', 'true');
    try {
      const reply = await fetch(url, { headers: { 'X-Requested-With': 'caseload' }, signal: inflight.signal, credentials: 'same-origin' });
      if (reply.redirected && !reply.url.includes('/clients')) { window.location = reply.url; return; }
      results.innerHTML = await reply.text();
      if (push) history.pushState({ caseload: true }, '', url);
    } catch (error) {
      if (error.name !== 'AbortError') window.location = url;
    } finally {
      results.removeAttribute('aria-busy');
    }
  }

  const submitSoon = (delay) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const query = queryOf(new FormData(form));
      load(form.action + (query ? '?' + query : ''), true);
    }, delay);
  };

  form.addEventListener('input', (event) => { if (event.target.name === 'q') submitSoon(300); });
  form.addEventListener('change', (event) => { if (event.target.name !== 'q') submitSoon(0); });
  form.addEventListener('submit', (event) => { event.preventDefault(); submitSoon(0); });

  // Sort headers, box links and pages inside the results load in place too.
  results.addEventListener('click', (event) => {
    const link = event.target.closest('a[href]');
    if (!link || link.closest('.menu') || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const target = new URL(link.href, window.location.href);
    if (target.pathname !== form.getAttribute('action')) return;
    event.preventDefault();
    syncForm(target.searchParams);
    load(target.pathname + target.search, true);
  });

  function syncForm(params) {
    for (const element of form.elements) {
      if (!element.name) continue;
      const fallback = element.tagName === 'SELECT' ? element.options[0].value : '';
      element.value = params.get(element.name) ?? fallback;
    }
  }

  window.addEventListener('popstate', () => {
    syncForm(new URLSearchParams(window.location.search));
    load(window.location.pathname + window.location.search, false);
  });
});
