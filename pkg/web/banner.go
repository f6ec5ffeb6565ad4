package web

import "strings"

// bannerText turns the result code a redirect carries in ?msg= into a
// sentence in lang. The dashboard writes "<action>" or "<action>: <status>"
// where status is a launcher status (pkg/launch: started_unverified,
// running, locked, …), a spawn outcome of Server.spawn or a reason code.
// Known parts come from the catalogue ("banner.action.<action>",
// "banner.status.<status>"); an unknown part gets a fallback sentence that
// names it, so a raw code never stands alone.
func (s *Server) bannerText(lang, msg string) string {
	action, status, _ := strings.Cut(msg, ":")
	action, status = strings.TrimSpace(action), strings.TrimSpace(status)
	text := s.i18n.T(lang, "banner.action."+action)
	if text == "banner.action."+action {
		text = s.i18n.T(lang, "banner.action.unknown", action)
	}
	if status == "" {
		return text
	}
	st := s.i18n.T(lang, "banner.status."+status)
	if st == "banner.status."+status {
		st = s.i18n.T(lang, "banner.status.unknown", status)
	}
	return text + " " + st
}
