-- Prints one machine-readable line at the end of a wrk run.
function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("WRK requests=%d seconds=%.3f rps=%.1f errors=%d non2xx=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    errors, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end

-- BENCH_DELAY_MS paces each connection: a request, then that many
-- milliseconds, then the next. A paced load measures latency at a load the
-- server can carry, rather than the queue of a saturated one.
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pace then
  function delay() return pace end
end
