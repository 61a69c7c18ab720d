-- Managed by Ansible (role proxy): local changes are overwritten.
--
-- Picks the backend of a request (access phase of nginx's `location /`). The
-- first path segment names the tool; its routes are the Redis hash
-- prefix:<tool> {path regex -> http://address:port}, written by the route API
-- (toollabs.proxyapi) when a tool's web server registers. No route: the
-- "No webservice" page (HTTP 503). The chosen peer is handed to the balancer
-- (tool_backend in toollabs-proxy.conf) through ngx.ctx.
local redis_routes = require "redis_routes"   -- files/redis_routes.lua

local REDIS_SOCKET = "unix:" .. ngx.var.toollabs_redis_socket
local ROUTE_CACHE = tonumber(ngx.var.toollabs_route_cache) or 0
-- Per worker (package.loaded survives requests), tool -> {routes, expires}.
local route_cache = package.loaded.toollabs_route_cache or {}
package.loaded.toollabs_route_cache = route_cache
local NAME = "^/([a-z][a-z0-9_-]{0,31})(/.*)$"

local function noservice(tool)
  ngx.ctx.noservice_tool = tool
  return ngx.exec("@noservice")
end

-- Dot segments and encoded separators in the raw path: nginx resolves them
-- before it picks a location, but the backend would get the raw form, so a path
-- such as /a/..%2fb/ could name tool a to the proxy and b to a server. Refused.
local raw_path = ngx.var.request_uri:match("^[^?]*")
local decoded = ngx.unescape_uri(raw_path)
if decoded:find("/%.%.?/") or decoded:find("/%.%.?$") or decoded:find("\\", 1, true)
   or decoded:find("%z") or raw_path:lower():find("%2f", 1, true) then
  return ngx.exit(ngx.HTTP_BAD_REQUEST)
end

local m = ngx.re.match(ngx.var.uri, NAME, "jo")
if not m then
  return ngx.exit(ngx.HTTP_NOT_FOUND)
end
local tool, rest = m[1], m[2]
-- The raw path must name the same tool (no encoded tricks in the first segment).
if decoded:sub(1, #tool + 2) ~= "/" .. tool .. "/" then
  return ngx.exit(ngx.HTTP_BAD_REQUEST)
end

-- Each worker keeps a tool's routes for ROUTE_CACHE seconds (a Redis round trip
-- per request costs the proxy a third of its throughput); a route that went
-- away meanwhile gets connection refused, which also gives the 503 page.
local now = ngx.now()
local cached = route_cache[tool]
local routes
if cached and cached.expires > now then
  routes = cached.routes
else
  local herr
  routes, herr = redis_routes.hgetall(REDIS_SOCKET, "prefix:" .. tool, 500)
  if not routes then
    ngx.log(ngx.ERR, "route lookup failed: ", herr)
    return noservice(tool)
  end
  -- No route is not cached: a service just started is served at once.
  if #routes > 0 and ROUTE_CACHE > 0 then
    route_cache[tool] = { routes = routes, expires = now + ROUTE_CACHE }
  else
    route_cache[tool] = nil
  end
end

for i = 1, #routes, 2 do
  local pattern, backend = routes[i], routes[i + 1]
  if ngx.re.find(rest, pattern, "jo") then
    local host, port = backend:match("^http://([%d%.]+):(%d+)/?$")
    if host then
      ngx.ctx.backend_host = host
      ngx.ctx.backend_port = tonumber(port)
      ngx.ctx.tool = tool
      return
    end
    ngx.log(ngx.ERR, "unusable backend for ", tool, ": ", backend)
  end
end
return noservice(tool)
