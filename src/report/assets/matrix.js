// reachgate matrix page: one evidence panel open at a time, Esc closes it, and the page
// refreshes itself every data-refresh seconds while no panel is open.
'use strict';
(() => {
  const panels = Array.from(document.querySelectorAll('td.cell details'));
  for (const panel of panels) {
    panel.addEventListener('toggle', () => {
      if (!panel.open) return;
      for (const other of panels) if (other !== panel && other.open) other.open = false;
    });
  }
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    for (const panel of panels) panel.open = false;
  });
  const seconds = Number(document.body.dataset.refresh);
  if (seconds > 0) {
    // Reloading would close the panel a reader is looking at: wait until it is closed.
    const reloadWhenIdle = () => {
      if (panels.some((panel) => panel.open)) setTimeout(reloadWhenIdle, 5000);
      else window.location.reload();
    };
    setTimeout(reloadWhenIdle, seconds * 1000);
  }
})();
