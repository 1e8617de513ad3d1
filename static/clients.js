// Clients Table: filters, search, sort and pages update the results in place.
// The form and links work without this file. Here every change reloads the
// results at once (no Apply), the address bar takes the server's canonical URL
// (data-url on the results), one line is announced, and on phones the filters
// open as a sheet behind a "Filters (2)" button.
Caseload.ready(() => {
  const form = document.querySelector('[data-live-filters]');
  const results = document.querySelector('[data-results]');
  if (!form || !results) return;
  const status = document.querySelector('[data-results-status]');
  const search = form.querySelector('input[name="q"]');
  const searchError = form.querySelector('[data-search-error]');
  const toggle = form.querySelector('[data-filter-toggle]');
  const sheet = form.querySelector('[data-filter-sheet]');
  let timer = null;
  let inflight = null;

  // What the server says about the page it answered: URL, count line, errors.
  function adopt(push) {
    const body = results.querySelector('.results-body');
    if (!body) return;
    const url = body.dataset.url;
    if (push) history.pushState({ caseload: true }, '', url);
    else history.replaceState({ caseload: true }, '', url);
    const active = Number(body.dataset.activeFilters || 0);
    toggle.querySelector('[data-filter-count]').textContent = active ? `Filters (${active})` : 'Filters';
    const problem = body.dataset.searchError || '';
    searchError.textContent = problem;
    searchError.hidden = !problem;
    search.setAttribute('aria-invalid', problem ? 'true' : 'false');
    search.setAttribute('aria-describedby', problem ? 'q-hint q-error' : 'q-hint');
    Caseload.announce(status, problem || body.dataset.announce);
    bindSelection();
  }

  async function load(url, push) {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    results.setAttribute('aria-busy', 'true');
    try {
      const { reply, html } = await Caseload.fragment(url, { signal: inflight.signal });
      if (reply.redirected && !new URL(reply.url).pathname.endsWith('/clients')) { window.location = reply.url; return; }
      results.innerHTML = html;
      adopt(push);
    } catch (error) {
      if (error.name !== 'AbortError') window.location = url;
    } finally {
      results.removeAttribute('aria-busy');
    }
  }

  // The filters as they stand, empty ones left out; the server fills in defaults.
  // The controls that sit with the table (sort, order, rows: form="filters") are
  // sent only when the page's URL already has them or the admin just chose them,
  // so a default sort never overrides another filter's own default order.
  function formUrl(changed) {
    const current = new URL(results.querySelector('.results-body')?.dataset.url || '', window.location.href).searchParams;
    const params = new URLSearchParams();
    for (const element of form.elements) {
      if (!element.name || element.disabled || element.value === '' || element.type === 'submit') continue;
      if (results.contains(element) && element.type !== 'hidden' && element !== changed && !current.has(element.name)) continue;
      params.append(element.name, element.value);
    }
    const query = params.toString();
    return form.action + (query ? `?${query}` : '');
  }

  const submitSoon = (delay, changed) => {
    clearTimeout(timer);
    timer = setTimeout(() => load(formUrl(changed), true), delay);
  };

  form.addEventListener('input', (event) => { if (event.target === search) submitSoon(300); });
  form.addEventListener('change', (event) => { if (event.target !== search) submitSoon(0, event.target); });
  form.addEventListener('submit', (event) => { event.preventDefault(); submitSoon(0); });
  // Sort, order and rows sit with the table (form="filters") and change with it.
  results.addEventListener('change', (event) => { if (event.target.form === form) submitSoon(0, event.target); });

  // Sort headers, boxes, chips and pages inside the results load in place too.
  results.addEventListener('click', (event) => {
    const link = event.target.closest('a[href]');
    if (!link || link.closest('.menu') || link.hasAttribute('data-open-invite') ||
        event.metaKey || event.ctrlKey || event.shiftKey) return;
    const target = new URL(link.href, window.location.href);
    if (target.pathname !== new URL(form.action, window.location.href).pathname) return;
    event.preventDefault();
    syncForm(target.searchParams);
    load(target.pathname + target.search, true);
  });

  function syncForm(params) {
    for (const element of form.elements) {
      if (!element.name || results.contains(element) || element.type === 'submit') continue;
      const fallback = element.tagName === 'SELECT' ? element.options[0].value : '';
      element.value = params.get(element.name) ?? fallback;
    }
  }

  window.addEventListener('popstate', () => {
    syncForm(new URLSearchParams(window.location.search));
    load(window.location.pathname + window.location.search, false);
  });

  // ---------------------------------------------------------------- phones: the filter sheet
  toggle.hidden = false;
  const openSheet = (open) => {
    sheet.classList.toggle('is-open', open);
    toggle.setAttribute('aria-expanded', String(open));
    document.body.classList.toggle('sheet-open', open);
    if (open) sheet.querySelector('select, input').focus();
    else toggle.focus();
  };
  toggle.addEventListener('click', () => openSheet(!sheet.classList.contains('is-open')));
  form.querySelector('[data-filter-close]').addEventListener('click', () => openSheet(false));
  sheet.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && sheet.classList.contains('is-open')) { event.preventDefault(); openSheet(false); }
  });

  // ---------------------------------------------------------------- selection and the bulk bar
  function bindSelection() {
    const bar = results.querySelector('[data-bulk-bar]');
    if (!bar) return;
    const all = results.querySelector('[data-select-all]');
    const rows = () => [...results.querySelectorAll('[data-select-row]')];
    const count = bar.querySelector('[data-bulk-count]');
    const refresh = () => {
      const chosen = rows().filter((box) => box.checked).length;
      bar.classList.toggle('has-selection', chosen > 0);
      count.textContent = chosen ? `${chosen} selected` : '';
      if (all) {
        all.checked = chosen > 0 && chosen === rows().length;
        all.indeterminate = chosen > 0 && chosen < rows().length;
      }
    };
    if (all) {
      all.hidden = false;
      all.addEventListener('change', () => { for (const box of rows()) box.checked = all.checked; refresh(); });
    }
    for (const box of rows()) box.addEventListener('change', refresh);
    refresh();
  }

  // After Invite in the window, Resend or Revoke: fresh rows and boxes; focus back where it was.
  const reload = () => load(window.location.pathname + window.location.search, false);
  document.addEventListener('caseload:invited', reload);
  document.addEventListener('caseload:changed', async (event) => {
    await reload();
    window.setTimeout(() => {
      const target = event.detail && event.detail.focus && results.querySelector(event.detail.focus);
      if (target) target.focus();
    }, 0);
  });

  // The bulk bar's Resend and Revoke (confirmed in their panel): answered on the table.
  results.addEventListener('submit', async (event) => {
    const submit = event.submitter;
    if (!submit || !submit.hasAttribute('data-in-place')) return;
    event.preventDefault();
    submit.disabled = true;
    const notice = await Caseload.postForNotice(submit.formAction, new FormData(event.target, submit));
    Caseload.toast(notice);
    document.dispatchEvent(new CustomEvent('caseload:changed', { detail: { focus: '[data-select-all]' } }));
  });

  bindSelection();
  const first = results.querySelector('.results-body');
  if (first && first.dataset.searchError) adopt(false);
});
