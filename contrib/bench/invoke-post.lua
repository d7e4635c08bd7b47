-- invoke-post.lua: wrk script of contrib/bench/invoke.py.
--
--   wrk -s invoke-post.lua URL -- BYTES
--
-- Every request is the same POST of BYTES bytes (default 512) with
-- Content-Type: application/octet-stream.  No response() callback, so wrk
-- keeps its fast path (it counts statuses above 399 itself).  done() prints
-- one line "INVOKE-RESULT {json}" for invoke.py to parse: requests, duration
-- (us), bytes, the socket and status errors, and latency in microseconds
-- (min, mean, stdev, max and percentiles).

function init(args)
   local n = tonumber(args[1] or "512") or 512
   -- printable, deterministic, not all one byte
   local pattern = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"
   local body = string.rep(pattern, math.floor(n / #pattern) + 1):sub(1, n)
   wrk.method = "POST"
   wrk.body = body
   wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
   local e = summary.errors
   local parts = {
      string.format('"requests":%d', summary.requests),
      string.format('"duration_us":%d', summary.duration),
      string.format('"bytes":%d', summary.bytes),
      string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
                    e.connect, e.read, e.write, e.status, e.timeout),
      string.format('"lat_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d}', latency.min,
                    latency.mean, latency.stdev, latency.max),
   }
   local pct = {}
   for _, p in ipairs({50, 75, 90, 99, 99.9}) do
      pct[#pct + 1] = string.format('"%s":%d', tostring(p), latency:percentile(p))
   end
   io.write("INVOKE-RESULT {" .. table.concat(parts, ",") .. ',"p":{' ..
            table.concat(pct, ",") .. "}}\n")
end
