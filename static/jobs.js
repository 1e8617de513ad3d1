// Background jobs: poll a job's status with backoff and update the fragment in
// place; stop once the job is final (the page then reloads to show the outcome).
// The backoff comes from the server (data-poll-first, data-poll-factor, data-poll-max).
(() => {
  const POLLING = ['working', 'stalled', 'cancelling'];

  function watch(box) {
    let wait = Number(box.dataset.pollFirst) || 1000;
    const factor = Number(box.dataset.pollFactor) || 1.6;
    const longest = Number(box.dataset.pollMax) || 15000;
    const state = box.dataset.jobState;
    let failures = 0;
    const message = box.querySelector('[data-job-message]');
    const progress = box.querySelector('[data-job-progress]');
    const count = box.querySelector('[data-job-count]');
    const refresh = box.querySelector('[data-job-refresh]');
    if (refresh) refresh.hidden = true;

    const next = () => {
      window.setTimeout(poll, wait);
      wait = Math.min(wait * factor, longest);
    };

    function show(job) {
      if (job.state !== state) {
        // Another state means other buttons (Retry, no Cancel) or a result to show: let the server render it.
        window.location.reload();
        return false;
      }
      if (message) message.textContent = job.message;
      if (progress && job.total) progress.value = Math.floor(100 * job.done / job.total);
      if (count && job.total) count.textContent = `${job.done} of ${job.total} done`;
      return !job.final;
    }

    async function poll() {
      let job;
      try {
        job = await Caseload.api('GET', box.dataset.jobUrl);
      } catch {
        failures += 1;
        if (failures >= 5) {
          if (message) message.textContent = 'Cannot reach Caseload to check progress. Check again in a moment.';
          if (refresh) refresh.hidden = false;
          return; // stop: the person decides when to look again
        }
        next();
        return;
      }
      failures = 0;
      if (show(job)) next();
    }

    if (POLLING.includes(state) && box.dataset.jobPoll !== 'off') next();
  }

  Caseload.ready(() => { for (const box of document.querySelectorAll('[data-job]')) watch(box); });
})();
