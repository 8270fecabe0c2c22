-- A HEPv3 dissector for tshark (Wireshark 4.0 has none built in), for the
-- HEP test: tshark -X lua_script:testdata/hep/hep3.lua reads HEPv3 on UDP
-- port 9060 and hands the captured payload to the SIP dissector.
local hep3 = Proto("hep3", "HEPv3 (Homer Encapsulation Protocol)")
local f = hep3.fields
f.length = ProtoField.uint16("hep3.length", "Total length")
f.family = ProtoField.uint8("hep3.family", "IP family")
f.proto = ProtoField.uint8("hep3.ip_proto", "IP protocol")
f.src_ip = ProtoField.ipv4("hep3.src_ip", "Source IPv4")
f.dst_ip = ProtoField.ipv4("hep3.dst_ip", "Destination IPv4")
f.src_ip6 = ProtoField.ipv6("hep3.src_ip6", "Source IPv6")
f.dst_ip6 = ProtoField.ipv6("hep3.dst_ip6", "Destination IPv6")
f.src_port = ProtoField.uint16("hep3.src_port", "Source port")
f.dst_port = ProtoField.uint16("hep3.dst_port", "Destination port")
f.ts_sec = ProtoField.uint32("hep3.ts_sec", "Timestamp seconds")
f.ts_usec = ProtoField.uint32("hep3.ts_usec", "Timestamp microseconds")
f.proto_type = ProtoField.uint8("hep3.proto_type", "Protocol type")
f.capture_id = ProtoField.uint32("hep3.capture_id", "Capture agent id")
f.correlation_id = ProtoField.string("hep3.correlation_id", "Correlation id")

local sip = Dissector.get("sip")

function hep3.dissector(tvb, pinfo, tree)
  if tvb:len() < 6 or tvb(0, 4):string() ~= "HEP3" then return 0 end
  pinfo.cols.protocol = "HEP3"
  local t = tree:add(hep3, tvb())
  t:add(f.length, tvb(4, 2))
  local off, total = 6, tvb(4, 2):uint()
  local payload
  while off + 6 <= total do
    local typ, len = tvb(off + 2, 2):uint(), tvb(off + 4, 2):uint()
    if len < 6 or off + len > total then break end
    local v = tvb(off + 6, len - 6)
    if typ == 1 then t:add(f.family, v)
    elseif typ == 2 then t:add(f.proto, v)
    elseif typ == 3 then t:add(f.src_ip, v)
    elseif typ == 4 then t:add(f.dst_ip, v)
    elseif typ == 5 then t:add(f.src_ip6, v)
    elseif typ == 6 then t:add(f.dst_ip6, v)
    elseif typ == 7 then t:add(f.src_port, v)
    elseif typ == 8 then t:add(f.dst_port, v)
    elseif typ == 9 then t:add(f.ts_sec, v)
    elseif typ == 10 then t:add(f.ts_usec, v)
    elseif typ == 11 then t:add(f.proto_type, v)
    elseif typ == 12 then t:add(f.capture_id, v)
    elseif typ == 15 then payload = v
    elseif typ == 17 then t:add(f.correlation_id, v)
    end
    off = off + len
  end
  if payload then sip:call(payload:tvb(), pinfo, tree) end
  return tvb:len()
end

DissectorTable.get("udp.port"):add(9060, hep3)
