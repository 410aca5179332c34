-- Hand a batch of invocations to the KV proxy, only while it is alive, in one atomic step.
-- KEYS[1] = the proxy's alive key; KEYS[2] = its request stream.
-- ARGV[1] = the batch (see proxy.py).
-- Returns 1 if the batch was appended, 0 if no proxy is alive (the caller invokes directly).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'batch', ARGV[1])
return 1
