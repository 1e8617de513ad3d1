// Caseload's pages work without JavaScript; this file only enhances them.
// Feature modules register themselves on `Caseload.ready`.
window.Caseload = {
  csrf() { const m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ''; },
  ready(fn) { if (document.readyState !== 'loading') fn(); else document.addEventListener('DOMContentLoaded', fn); },
};
