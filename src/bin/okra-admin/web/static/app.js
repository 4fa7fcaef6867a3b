// okra-admin web: the only script on the pages (the Content-Security-Policy forbids inline
// script). It does two things, and the pages work without it.

// 1. Parts of a page marked data-refresh="URL" are replaced by a fresh rendering every 2 s,
//    without reloading the page (the overview's counts, chart and status).
for (const el of document.querySelectorAll("[data-refresh]")) {
  const url = el.dataset.refresh;
  setInterval(async () => {
    try {
      const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (res.ok) el.innerHTML = await res.text();
    } catch (_) {
      // The server is restarting or unreachable: keep what is shown and try again.
    }
  }, 2000);
}

// 2. Forms marked data-confirm="question" ask before they submit (pause, purge, cancel).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
