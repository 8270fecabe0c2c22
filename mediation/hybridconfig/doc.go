// Package hybridconfig is the media bypass web service that a CCE Mediation
// Server hosts at /hybridconfig/hybridconfigservice.svc (the tenant's
// HybridConfigServiceInternalUrl). A Skype for Business client fetches it with
// GET to learn whether it may use media bypass and which bypass ID to put in
// a=x-bypassid; a client that cannot reach it counts as external.
//
// The real service's XML is undocumented. This emulator answers 200 with
// Content-Type "application/xml; charset=utf-8", Cache-Control "no-store" and
// exactly this body when bypass is granted (the attribute names mirror the
// on-premises mediaConfiguration provisioning group of [MS-SIPREGE]):
//
//	<?xml version="1.0" encoding="utf-8"?>
//	<HybridConfig><MediaBypass bypassEnabled="true" internalBypassMode="Any" externalBypassMode="Off" bypassID="be38f190-a24a-4a72-b66c-b09fd0909ebc"></MediaBypass></HybridConfig>
//
// and, when it is not (bypass disabled in the settings, or a client whose
// User-Agent carries no Skype for Business build or one older than
// MinBypassVersion), the same document without a bypass ID:
//
//	<?xml version="1.0" encoding="utf-8"?>
//	<HybridConfig><MediaBypass bypassEnabled="false" internalBypassMode="Off" externalBypassMode="Off"></MediaBypass></HybridConfig>
//
// A client whose address (taken from the TCP connection only, never from
// X-Forwarded-For) is outside the internal subnets gets 403 with the text body
// "external clients cannot use media bypass": Cloud Connector considers a
// client internal exactly when it can reach this service. Methods other than
// GET and HEAD get 405.
package hybridconfig
