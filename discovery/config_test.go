package discovery

import (
	"reflect"
	"testing"
)

// DefaultXConfig spells out exactly what a zero XConfig stands for.
func TestDefaultConfigs(t *testing.T) {
	lan := newFakeLAN()
	h := lan.addHost("srv", 10)
	zero, err := newAnnouncer(AnnouncerConfig{Port: 9797, Instance: "x"}, h.links, h)
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	d := DefaultAnnouncerConfig()
	d.Port, d.Instance = 9797, "x"
	def, err := newAnnouncer(d, h.links, h)
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	if !reflect.DeepEqual(zero.cfg, def.cfg) {
		t.Errorf("announcer:\n zero %+v\n default %+v", zero.cfg, def.cfg)
	}
	bz, err := newBrowser(BrowserConfig{}, h.links, h)
	if err != nil {
		t.Fatal(err)
	}
	defer bz.Close()
	bd, err := newBrowser(DefaultBrowserConfig(), h.links, h)
	if err != nil {
		t.Fatal(err)
	}
	defer bd.Close()
	if !reflect.DeepEqual(bz.cfg, bd.cfg) {
		t.Errorf("browser:\n zero %+v\n default %+v", bz.cfg, bd.cfg)
	}
	wz, err := newWatcher(WatcherConfig{}, h.links, h)
	if err != nil {
		t.Fatal(err)
	}
	defer wz.Close()
	wd, err := newWatcher(DefaultWatcherConfig(), h.links, h)
	if err != nil {
		t.Fatal(err)
	}
	defer wd.Close()
	if !reflect.DeepEqual(wz.cfg, wd.cfg) {
		t.Errorf("watcher:\n zero %+v\n default %+v", wz.cfg, wd.cfg)
	}
}
