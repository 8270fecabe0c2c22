package sip_test
import ("testing"; gosip "github.com/emiago/sipgo/sip")
func TestX(t *testing.T){
 for _, v := range []string{"<sip:+1900@evil.example;lr", "<sip:premium-ivr.evil.example;transport=tcp>", "<sips:evil.example:5061>", "<sip:+19005550100@evil.example?Route=%3Csip%3Aevil.example%3Blr%3E&P-Asserted-Identity=%3Csip%3A%2B15550000%40x%3E>", "garbage", "<>", "<tel:+1555>", "<sip:@host>", "sip:+1555@h", "<http://x>"} {
  var u gosip.Uri; var p gosip.HeaderParams
  s, err := gosip.ParseAddressValue(v, &u, &p)
  t.Logf("%q -> name=%q err=%v scheme=%q user=%q host=%q hdrs=%v", v, s, err, u.Scheme, u.User, u.Host, u.Headers)
 }
}
