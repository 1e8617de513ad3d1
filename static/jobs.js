// Background jobs: poll a job's status with backoff and update the fragment in
// place; stop once the job is final (the page then reloads to show the outcome).
(function () {
  'use strict';

  function watch(box) {
    var wait = Number(box.dataset.pollFirst) || 1000;
    var factor = Number(box.dataset.pollFactor) || 1.6;
    var longest = Number(box.dataset.pollMax) || 15000;
    var state = box.dataset.jobState;
    var failures = 0;
    var message = box.querySelector('[data-job-message]');
    var progress = box.querySelector('[data-job-progress]');
    var count = box.querySelector('[data-job-count]');
    var refresh = box.querySelector('[data-job-refresh]');
    if (refresh) refresh.hidden = true;

    function next() {
      window.setTimeout(poll, wait);
      wait = Math.min(wait * factor, longest);
    }

    function show(job) {
      if (job.state !== state) {
        // Another state means other buttons (Retry, no Cancel) or a result to show: let the server render it.
        window.location.reload();
        return false;
      }
      if (message) message.textContent = job.message;
      if (progress && job.total) progress.value = Math.floor(100 * job.done / job.total);
      if (count && job.total) count.textContent = job.done + ' of ' + job.total + ' done';
      return !job.final;
    }

    function poll() {
      fetch(box.dataset.jobUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
        .then(function (reply) {
          if (!reply.ok) throw new Error('status ' + reply.status);
          return reply.json();
        })
        .then(function (job) {
          failures = 0;
          if (show(job)) next();
        })
        .catch(function () {
          failures += 1;
          if (failures >= 5) {
            if (message) message.textContent = 'Cannot reach Caseload to check progress. Check again in a moment.';
            if (refresh) refresh.hidden = false;
            return; // stop: the person decides when to look again
          }
          next();
        });
    }

    if (['working', 'stalled', 'cancelling'].indexOf(state) !== -1 && box.dataset.jobPoll !== 'off') next();
  }

  document.querySelectorAll('[data-job]').forEach(watch);
})();
