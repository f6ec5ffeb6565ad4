package web

import (
	"net/url"
	"strconv"
	"strings"
)

// Navigation URLs between the list and the detail page. Each URL is built
// whole here and handed to html/template as one value, which escapes it once
// for the href attribute. Concatenating "id=…&amp;{{query}}" in a template
// made html/template escape the already encoded query a second time
// ("&amp;type%3dvideo"), so the detail page lost the list's filter.

// mediaURL is the detail page of id inside the list whose filter is list,
// the url.Values.Encode() form of catalog.Filter.Values (encoded once per
// page, not once per card; "" for the unfiltered list).
func mediaURL(id int64, list string) string {
	u := "/media_view.php?id=" + strconv.FormatInt(id, 10)
	if list != "" {
		u += "&" + list
	}
	return u
}

// listURL is the list page with the filter list (url.Values.Encode() form).
func listURL(list string) string {
	if list == "" {
		return "/mediadb.php"
	}
	return "/mediadb.php?" + list
}

// termURL is the list of the media whose field matches value, quoted
// when it is more than one plain word ("" when value has a quote, which a
// phrase cannot hold).
func termURL(field, value string) string {
	if value == "" || strings.ContainsRune(value, '"') {
		return ""
	}
	if strings.ContainsFunc(value, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	}) {
		value = `"` + value + `"`
	}
	return listURL(url.Values{"q": {field + ":" + value}}.Encode())
}

// backURL is where an error page's "back" link leads: the page the person
// came from when it is on this server and is not the failing page itself,
// else the media list.
func backURL(referer, host, current string) string {
	u, err := url.Parse(referer)
	if err != nil || referer == "" || u.Host != host || (u.Scheme != "http" && u.Scheme != "https") {
		return "/mediadb.php"
	}
	target := u.EscapedPath()
	if target == "" {
		target = "/"
	}
	if u.RawQuery != "" {
		target += "?" + u.RawQuery
	}
	if target == current {
		return "/mediadb.php"
	}
	return target
}
