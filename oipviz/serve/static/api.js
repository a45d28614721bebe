// Talking to the server: JSON in and out; every error body is {"error": "one line"}.

async function answer(resp) {
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (e) {
    body = null;
  }
  if (!resp.ok) {
    const msg = (body && body.error) || `${resp.status} ${resp.statusText}`;
    const err = new Error(msg);
    err.status = resp.status;
    throw err;
  }
  return body;
}

export async function getJSON(url) {
  return answer(await fetch(url));
}

export async function postJSON(url, body) {
  return answer(await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }));
}

export async function postForm(url, form) {
  return answer(await fetch(url, { method: "POST", body: form }));
}

export async function del(url) {
  return answer(await fetch(url, { method: "DELETE" }));
}

/**
 * Follow a job's server-sent events. ``handlers`` maps event names (state, progress,
 * frame, round, done, failed, cancelled) to functions of the event's data. Returns a
 * function that closes the stream (the server then cancels a job nobody watches).
 */
export function follow(job, handlers) {
  const es = new EventSource(job.events);
  let over = false;
  const end = () => {
    over = true;
    es.close();
  };
  for (const name of ["state", "progress", "frame", "round"]) {
    es.addEventListener(name, (ev) => handlers[name] && handlers[name](JSON.parse(ev.data)));
  }
  for (const name of ["done", "failed", "cancelled"]) {
    es.addEventListener(name, (ev) => {
      end();
      if (handlers[name]) handlers[name](JSON.parse(ev.data));
    });
  }
  es.onerror = () => {
    if (!over && es.readyState === EventSource.CLOSED && handlers.failed) {
      handlers.failed({ error: "the event stream was lost" });
    }
  };
  return end;
}
