-- wrk script for the nanio benchmarks: cycles through presigned SigV4 request
-- paths and prints the run's figures as one JSON line from done().
--
-- Usage: wrk ... -s presigned.lua URL -- METHOD PATHS_FILE [BODY_BYTES]
--   METHOD      GET, HEAD or PUT
--   PATHS_FILE  one presigned path (with its query string) per line; every
--               request line of a thread is formatted once, in init()
--   BODY_BYTES  size of the request body (PUT), 0 or absent for none
--
-- Presigned URLs carry their signature in the query, so a request needs no
-- per-request signing: the load generator does no crypto and stays far
-- below the server's cost per request.

local requests = {}
local position = 0
local counter = 0

function setup(thread)
   -- Each thread starts at a different path, so PUTs of two threads do not
   -- queue on the same key's lock in step.
   counter = counter + 1
   thread:set("thread_index", counter)
end

function init(args)
   local method = args[1]
   local paths_file = args[2]
   local body_bytes = tonumber(args[3] or "0")
   local body = nil
   if body_bytes > 0 then
      -- Not all one byte: a server that compressed or deduplicated bodies
      -- would otherwise look faster than it is.
      local pieces = {}
      for i = 1, body_bytes do
         pieces[i] = string.char(97 + (i * 7919) % 26)
      end
      body = table.concat(pieces)
   end
   for path in io.lines(paths_file) do
      if #path > 0 then
         requests[#requests + 1] = wrk.format(method, path, nil, body)
      end
   end
   if #requests == 0 then
      error("no request paths in " .. paths_file)
   end
   position = ((thread_index or 1) - 1) % #requests
end

function request()
   position = position % #requests + 1
   return requests[position]
end

function done(summary, latency, requests_per_thread)
   local errors = summary.errors
   io.write(string.format(
      'NANIO_BENCH_WRK {"duration_us":%d,"requests":%d,"bytes":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.duration, summary.requests, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency.mean, latency.max,
      latency:percentile(50.0), latency:percentile(90.0),
      latency:percentile(99.0), latency:percentile(99.9)))
end
