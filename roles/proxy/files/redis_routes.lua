-- Managed by Ansible (role proxy): local changes are overwritten.
--
-- The one Redis command the proxy needs, HGETALL, over an nginx cosocket
-- (non-blocking; connections are pooled per worker). Debian's lua-resty-redis
-- (lua-nginx-redis) would do it too, but that package depends on nginx-extras,
-- which loads some twenty modules (perl, nchan, dav ...) into a public-facing
-- proxy that uses none of them.
local _M = {}

local function read_reply(sock)
  local line, err = sock:receive("*l")
  if not line then
    return nil, err
  end
  local kind, rest = line:sub(1, 1), line:sub(2)
  if kind == "-" then
    return nil, rest
  end
  if kind ~= "*" then
    return nil, "unexpected reply: " .. line
  end
  local count = tonumber(rest)
  local items = {}
  for i = 1, (count or 0) do
    local header, herr = sock:receive("*l")
    if not header then
      return nil, herr
    end
    local size = tonumber(header:match("^%$(%-?%d+)$"))
    if not size then
      return nil, "unexpected bulk header: " .. header
    end
    if size < 0 then
      items[i] = ngx.null
    else
      local data, derr = sock:receive(size + 2)   -- the value and its CRLF
      if not data then
        return nil, derr
      end
      items[i] = data:sub(1, size)
    end
  end
  return items
end

-- hgetall(socket_path, key, timeout_ms) -> {field, value, field, value ...} or nil, error
function _M.hgetall(path, key, timeout)
  local sock = ngx.socket.tcp()
  sock:settimeout(timeout or 500)
  local ok, err = sock:connect(path)
  if not ok then
    return nil, err
  end
  local _, serr = sock:send({"*2\r\n$7\r\nHGETALL\r\n$", #key, "\r\n", key, "\r\n"})
  if serr then
    sock:close()
    return nil, serr
  end
  local items, rerr = read_reply(sock)
  if items then
    sock:setkeepalive(60000, 64)
  else
    sock:close()
  end
  return items, rerr
end

return _M
