// Calls of the HTTP/JSON API (the same servicers as gRPC), with the bearer token kept in session storage.

const TOKEN_KEY = "dolphin.token";

/** An error reply: the gRPC status name, the message, Dolphin's error class and its details (e.g. position). */
export class ApiError extends Error {
  constructor(httpStatus, body) {
    super(body.message || `HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.status = body.status || "UNKNOWN";
    this.errorClass = body.errorClass || "";
    this.details = body.details || {};
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) {
    sessionStorage.setItem(TOKEN_KEY, value);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
  }
}

function headers() {
  const out = { "Content-Type": "application/json" };
  const t = token();
  if (t) out.Authorization = `Bearer ${t}`;
  return out;
}

async function errorOf(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = { message: `HTTP ${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, body);
}

/** POST one unary RPC, e.g. call("AudienceService", "Count", {expression}); returns the response message. */
export async function call(service, method, body = {}, signal = undefined) {
  const response = await fetch(`/v1/dolphin.v1.${service}/${method}`, {
    method: "POST", headers: headers(), body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

/** Read a server-streaming RPC (newline-delimited JSON), calling onMessage for each message. */
export async function stream(service, method, body, onMessage, signal = undefined) {
  const response = await fetch(`/v1/dolphin.v1.${service}/${method}`, {
    method: "POST", headers: headers(), body: JSON.stringify(body), signal,
  });
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  const handle = (line) => {
    if (!line.trim()) return;
    const item = JSON.parse(line);
    if (item.error) throw new ApiError(200, item.error);
    onMessage(item.result);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop();
    lines.forEach(handle);
  }
  handle(pending + decoder.decode());
}
