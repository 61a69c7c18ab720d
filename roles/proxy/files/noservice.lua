-- Managed by Ansible (role proxy): local changes are overwritten.
-- The "No webservice" page (HTTP 503): a tool without a route, or whose
-- server did not answer (nginx's 502/504 are sent here too).
local tool = ngx.ctx.noservice_tool or ngx.ctx.tool
if not tool then
  local m = ngx.re.match(ngx.var.uri, "^/([^/]+)", "jo")
  tool = m and m[1] or ""
end
local name = ngx.escape_uri(tool):gsub("[<>&\"']", "")
ngx.status = ngx.HTTP_SERVICE_UNAVAILABLE
ngx.header["Content-Type"] = "text/html; charset=utf-8"
ngx.header["Cache-Control"] = "no-store"
ngx.header["Retry-After"] = "10"
ngx.say([[<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>No webservice</title>
<style>body{font-family:sans-serif;margin:3em auto;max-width:40em;color:#202122}
code{background:#f8f9fa;padding:.1em .3em}</style></head>
<body><h1>No webservice</h1>
<p>The URL you have requested, <code>/]] .. name .. [[/</code>, is not currently serving
any web pages: the tool <strong>]] .. name .. [[</strong> has no running web service.</p>
<p>If you maintain this tool, start its web service from a bastion:
<code>become ]] .. name .. [[</code>, then <code>webservice start</code>.</p>
<p><a href="/">The list of all tools</a></p>
</body></html>]])
return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
