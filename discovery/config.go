package discovery

import "github.com/udpkit/udpkit/wire"

// The configuration convention of udpkit: a package takes an XConfig by
// value; every zero field stands for its documented default; and
// DefaultXConfig returns the configuration with every default spelled
// out (in the manner of memberlist's DefaultLANConfig), to start from when
// changing one value. NewX(DefaultXConfig()) and NewX(XConfig{}) behave
// the same.

// DefaultAnnouncerConfig returns the defaults of an AnnouncerConfig. Port
// is still required, and Instance stays empty: the Announcer derives it
// (DefaultInstance) from the port and the addresses it announces.
func DefaultAnnouncerConfig() AnnouncerConfig {
	return AnnouncerConfig{
		Service:        DefaultService,
		TTL:            DefaultTTL,
		MaxAnswerDelay: DefaultMaxAnswerDelay,
		SourceRate:     DefaultSourceRate,
		GlobalRate:     DefaultGlobalRate,
		DiscoveryPort:  wire.DiscoveryPort,
	}
}

// DefaultBrowserConfig returns the defaults of a BrowserConfig.
func DefaultBrowserConfig() BrowserConfig {
	return BrowserConfig{QuerySize: DefaultQuerySize, DiscoveryPort: wire.DiscoveryPort}
}

// DefaultWatcherConfig returns the defaults of a WatcherConfig.
func DefaultWatcherConfig() WatcherConfig {
	return WatcherConfig{DiscoveryPort: wire.DiscoveryPort}
}
