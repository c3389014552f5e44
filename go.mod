module github.com/udpkit/udpkit

go 1.26.0

require (
	github.com/hashicorp/go-sockaddr v1.0.7
	github.com/hashicorp/mdns v1.0.7
	github.com/miekg/dns v1.1.73
	github.com/spf13/pflag v1.0.10
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require github.com/hashicorp/errwrap v1.1.0 // indirect
