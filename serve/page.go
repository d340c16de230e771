package serve

import (
	"embed"
	"mime"
	"net/http"
	"path"
)

// pageFiles are the page's assets, served from the binary: no CDN, works
// offline.
//
//go:embed page
var pageFiles embed.FS

func (s *Server) page(x *exchange, r *http.Request) error {
	return s.serveAsset(x, "index.html")
}

func (s *Server) pageAsset(x *exchange, r *http.Request) error {
	return s.serveAsset(x, r.PathValue("file"))
}

func (s *Server) serveAsset(x *exchange, name string) error {
	b, err := pageFiles.ReadFile(path.Join("page", path.Clean("/"+name)))
	if err != nil {
		return errorf(http.StatusNotFound, "no file %q", name)
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		x.Header().Set("Content-Type", ct)
	}
	x.Header().Set("Cache-Control", "no-cache")
	x.Write(b)
	return nil
}
