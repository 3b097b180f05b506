# What a failcat-load report holds besides 202 answers: other statuses, requests a stall left
# unsent at the end of the run, timeouts; empty when there is nothing to say.
[(.statuses | to_entries[] | select(.key != "202") | "\(.key)=\(.value)"),
 (if .requests.unsent > 0 then "unsent=\(.requests.unsent)" else empty end),
 (if .requests.timeouts > 0 then "timeouts=\(.requests.timeouts)" else empty end)] | join(" ")
