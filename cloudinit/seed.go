package cloudinit

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

// Names of the files on the seed ISO and its volume label.
const (
	VolumeLabel       = "cidata"
	NameUserData      = "user-data"
	NameMetaData      = "meta-data"
	NameNetworkConfig = "network-config"
	NameBundle        = "bundle.tgz"
)

// Paths on the node used by the seed's install script.
const (
	// ScriptPath is where write_files puts the script runcmd starts.
	ScriptPath = layout.SeedScript
	// BundleDir is where the bundle is unpacked; it holds <cluster>-<node>/.
	BundleDir = layout.SeedBundleDir
	// LogFile receives everything the script and install.sh print.
	LogFile = layout.SeedLog
)

// SeedDirs are the NoCloud seed directories cloud-init reads when the
// seed's files are extracted rather than on a device; the script takes the
// bundle from the first that holds it before it looks for the ISO.
var SeedDirs = layout.SeedDirs

// Input is what one node's seed is rendered from.
type Input struct {
	// Spec is the loaded cluster spec (defaults applied, validated).
	Spec *cluster.Spec
	// Node names the member whose seed this is.
	Node string
	// BundleSHA256 is the hex sha256 of the bundle archive the ISO carries
	// as bundle.tgz. Empty means the seed carries no bundle: the script then
	// only writes /etc/hosts.
	BundleSHA256 string
	// InstallArgs are extra arguments for the bundle's install.sh, such as an
	// OS-check override for test images. They are written into the script
	// and logged by cloud-init: flags only, never secrets.
	InstallArgs []string
	// PackagesMedia, when set, names the shared packages media the bundle
	// takes its packages from (build --packages-media shared): the script
	// finds it and hands it to install.sh.
	PackagesMedia *PackagesMedia
}

// PackagesMedia is a shared packages media as a seed finds it: the ISO by
// its volume label (attached beside the seed), else its tarball by name in
// a NoCloud seed directory; SHA256 is the sha256 of its SHA256SUMS.
type PackagesMedia struct {
	Label   string
	SHA256  string
	Tarball string
}

// Seed is the small files of one node's NoCloud seed.
type Seed struct {
	UserData []byte
	MetaData []byte
	// NetworkConfig is nil when the spec asks for DHCP.
	NetworkConfig []byte
	// BundleSHA256 is copied from Input: WriteISO checks the bundle it is
	// given against it.
	BundleSHA256 string
}

// NamedFile is one small file of a seed, by its name on the ISO.
type NamedFile struct {
	Name    string
	Content []byte
}

// Files returns the seed's small files in ISO order (sorted by name).
func (s Seed) Files() []NamedFile {
	files := []NamedFile{{NameMetaData, s.MetaData}}
	if s.NetworkConfig != nil {
		files = append(files, NamedFile{NameNetworkConfig, s.NetworkConfig})
	}
	return append(files, NamedFile{NameUserData, s.UserData})
}

// Render produces the seed files of in.Node, and lints its user-data for the
// spec's target.
func Render(in Input) (Seed, error) {
	if in.Spec == nil {
		return Seed{}, errors.New("cloudinit: no spec")
	}
	node, ok := findNode(in.Spec, in.Node)
	if !ok {
		return Seed{}, fmt.Errorf("cloudinit: node %q is not in the spec", in.Node)
	}
	if in.BundleSHA256 != "" {
		if b, err := hex.DecodeString(in.BundleSHA256); err != nil || len(b) != 32 {
			return Seed{}, fmt.Errorf("cloudinit: node %s: bundle sha256 %q is not 64 hex digits", node.Name, in.BundleSHA256)
		}
	}
	if m := in.PackagesMedia; m != nil {
		if err := CheckLabel(m.Label); err != nil {
			return Seed{}, fmt.Errorf("cloudinit: node %s: packages media: %w", node.Name, err)
		}
		if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != 32 {
			return Seed{}, fmt.Errorf("cloudinit: node %s: packages media sha256 %q is not 64 hex digits", node.Name, m.SHA256)
		}
		if m.Tarball == "" || strings.ContainsAny(m.Tarball, "/'\n") {
			return Seed{}, fmt.Errorf("cloudinit: node %s: packages media tarball %q is not a plain file name", node.Name, m.Tarball)
		}
		if in.BundleSHA256 == "" {
			return Seed{}, fmt.Errorf("cloudinit: node %s: a packages media without a bundle", node.Name)
		}
	}
	for _, a := range in.InstallArgs {
		if a == "" || strings.ContainsAny(a, "\n\r\x00") {
			return Seed{}, fmt.Errorf("cloudinit: node %s: install argument %q is empty or holds a control character", node.Name, a)
		}
	}
	md, err := renderMetaData(in.Spec, node)
	if err != nil {
		return Seed{}, err
	}
	nc, err := renderNetworkConfig(in.Spec, node)
	if err != nil {
		return Seed{}, fmt.Errorf("cloudinit: node %s: network-config: %w", node.Name, err)
	}
	ud, err := renderUserData(in, node)
	if err != nil {
		return Seed{}, fmt.Errorf("cloudinit: node %s: user-data: %w", node.Name, err)
	}
	if err := Lint(in.Spec.Cluster.OS, ud); err != nil {
		return Seed{}, fmt.Errorf("cloudinit: node %s: %w", node.Name, err)
	}
	return Seed{UserData: ud, MetaData: md, NetworkConfig: nc, BundleSHA256: in.BundleSHA256}, nil
}

// Script returns the seed script of in.Node, as user-data carries it.
func Script(in Input) (string, error) {
	node, ok := findNode(in.Spec, in.Node)
	if !ok {
		return "", fmt.Errorf("cloudinit: node %q is not in the spec", in.Node)
	}
	return renderScript(in, node)
}

func findNode(s *cluster.Spec, name string) (cluster.Node, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	// The backup host boots from a seed of its own too.
	if b := s.Backup; b != nil && b.Host != nil && b.Host.Name == name {
		return s.BackupHostNode(), true
	}
	return cluster.Node{}, false
}

// InstanceID is the cloud-init instance-id of a node: the same on every
// rebuild, changed only by the spec's generation.
func InstanceID(s *cluster.Spec, node string) string {
	return fmt.Sprintf("iid-%s-%s-g%d", s.Cluster.Name, node, s.Cluster.Generation)
}

func renderMetaData(s *cluster.Spec, n cluster.Node) ([]byte, error) {
	md := struct {
		InstanceID    string `yaml:"instance-id"`
		LocalHostname string `yaml:"local-hostname"`
	}{InstanceID(s, n.Name), n.Name}
	return marshal(md)
}

// nodeAddr parses a node address, which may carry its own prefix length.
func nodeAddr(s *cluster.Spec, n cluster.Node) (netip.Prefix, error) {
	if strings.Contains(n.Address, "/") {
		p, err := netip.ParsePrefix(n.Address)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("address %q: %w", n.Address, err)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(n.Address)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("address %q: %w", n.Address, err)
	}
	bits := s.Network.Prefix
	if bits <= 0 || bits > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("address %q: network.prefix %d is not a prefix length for it", n.Address, bits)
	}
	return netip.PrefixFrom(a, bits), nil
}

func isDHCP(s *cluster.Spec) bool { return s.Network.Mode == "dhcp" }

// fqdn is the node's FQDN (as the other renderers spell it), or "" without
// a cluster domain.
func fqdn(s *cluster.Spec, n cluster.Node) string {
	if s.Cluster.Domain == "" {
		return ""
	}
	return s.FQDN(n)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// networkConfigVersion is the network-config version written for a target.
func networkConfigVersion(os string) (int, error) {
	switch os {
	case "el7":
		return 1, nil
	case "el8", "el9":
		return 2, nil
	}
	return 0, fmt.Errorf("unknown target os %q (want el7, el8 or el9)", os)
}

func renderNetworkConfig(s *cluster.Spec, n cluster.Node) ([]byte, error) {
	version, err := networkConfigVersion(s.Cluster.OS)
	if err != nil {
		return nil, err
	}
	if isDHCP(s) {
		return nil, nil
	}
	if s.Network.Mode != "static" && s.Network.Mode != "" {
		return nil, fmt.Errorf("network.mode %q is neither static nor dhcp", s.Network.Mode)
	}
	if s.Network.Interface == "" {
		return nil, errors.New("network.interface is required for static addressing")
	}
	addr, err := nodeAddr(s, n)
	if err != nil {
		return nil, err
	}
	var gw netip.Addr
	if s.Network.Gateway != "" {
		if gw, err = netip.ParseAddr(s.Network.Gateway); err != nil {
			return nil, fmt.Errorf("network.gateway %q: %w", s.Network.Gateway, err)
		}
		if gw.Is4() != addr.Addr().Is4() {
			return nil, fmt.Errorf("network.gateway %s and address %s are of different IP versions", gw, addr)
		}
	}
	for _, d := range s.Network.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return nil, fmt.Errorf("network.dns %q: %w", d, err)
		}
	}
	mac := quotedString(cluster.NormalMAC(n.MACAddress))
	if version == 1 {
		return marshal(networkV1(s, addr, gw, mac))
	}
	return marshal(networkV2(s, addr, gw, mac))
}

// quotedString is a string written in double quotes: a MAC address such as
// 52:54:00:12:34:56 is a base-60 integer to a YAML 1.1 reader (cloud-init's
// PyYAML) when left plain.
type quotedString string

func (q quotedString) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Tag: "!!str", Value: string(q)}, nil
}

func (q quotedString) IsZero() bool { return q == "" }

// Version 1 network-config (cloud-init 18.5 on el7). IPv4 addresses are given
// with netmask, the form every v1 reader accepts.
type v1Config struct {
	Version int        `yaml:"version"`
	Config  []v1Device `yaml:"config"`
}

// A physical device with a mac_address is the NIC of that MAC, which
// cloud-init renames to Name.
type v1Device struct {
	Type       string       `yaml:"type"`
	Name       string       `yaml:"name"`
	MACAddress quotedString `yaml:"mac_address,omitempty"`
	Subnets    []v1Subnet   `yaml:"subnets"`
}

type v1Subnet struct {
	Type           string   `yaml:"type"`
	Address        string   `yaml:"address"`
	Netmask        string   `yaml:"netmask,omitempty"`
	Gateway        string   `yaml:"gateway,omitempty"`
	DNSNameservers []string `yaml:"dns_nameservers,omitempty"`
	DNSSearch      []string `yaml:"dns_search,omitempty"`
}

func networkV1(s *cluster.Spec, addr netip.Prefix, gw netip.Addr, mac quotedString) v1Config {
	sub := v1Subnet{
		Type:           "static",
		DNSNameservers: s.Network.DNS,
		DNSSearch:      s.Network.Search,
	}
	if addr.Addr().Is4() {
		sub.Address = addr.Addr().String()
		sub.Netmask = netmask4(addr.Bits())
	} else {
		sub.Address = addr.String()
	}
	if gw.IsValid() {
		sub.Gateway = gw.String()
	}
	dev := v1Device{Type: "physical", Name: s.Network.Interface, MACAddress: mac, Subnets: []v1Subnet{sub}}
	return v1Config{Version: 1, Config: []v1Device{dev}}
}

func netmask4(bits int) string {
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

// Version 2 network-config (el8, el9).
type v2Config struct {
	Version   int                   `yaml:"version"`
	Ethernets map[string]v2Ethernet `yaml:"ethernets"`
}

// An ethernet with a match is the NIC of that MAC, which cloud-init renames
// to SetName (the same name as its key, network.interface).
type v2Ethernet struct {
	Match       *v2Match       `yaml:"match,omitempty"`
	SetName     string         `yaml:"set-name,omitempty"`
	DHCP4       bool           `yaml:"dhcp4"`
	DHCP6       bool           `yaml:"dhcp6"`
	Addresses   []string       `yaml:"addresses"`
	Gateway6    string         `yaml:"gateway6,omitempty"`
	Routes      []v2Route      `yaml:"routes,omitempty"`
	Nameservers *v2Nameservers `yaml:"nameservers,omitempty"`
}

type v2Match struct {
	MACAddress quotedString `yaml:"macaddress"`
}

type v2Route struct {
	To  string `yaml:"to"`
	Via string `yaml:"via"`
}

type v2Nameservers struct {
	Addresses []string `yaml:"addresses,omitempty"`
	Search    []string `yaml:"search,omitempty"`
}

func networkV2(s *cluster.Spec, addr netip.Prefix, gw netip.Addr, mac quotedString) v2Config {
	eth := v2Ethernet{Addresses: []string{addr.String()}}
	if mac != "" {
		eth.Match = &v2Match{MACAddress: mac}
		eth.SetName = s.Network.Interface
	}
	switch {
	case gw.Is4():
		eth.Routes = []v2Route{{To: "0.0.0.0/0", Via: gw.String()}}
	case gw.Is6():
		// cloud-init 22.4's sysconfig renderer turns a route to ::/0 into
		// "::/64 via <gw>"; gateway6 gives IPV6_DEFAULTGW on every renderer.
		eth.Gateway6 = gw.String()
	}
	if len(s.Network.DNS) > 0 || len(s.Network.Search) > 0 {
		eth.Nameservers = &v2Nameservers{Addresses: s.Network.DNS, Search: s.Network.Search}
	}
	return v2Config{Version: 2, Ethernets: map[string]v2Ethernet{s.Network.Interface: eth}}
}

// user-data, in the order cloud-init's documentation lists the keys.
type userData struct {
	Hostname         string      `yaml:"hostname"`
	FQDN             string      `yaml:"fqdn,omitempty"`
	PreserveHostname bool        `yaml:"preserve_hostname"`
	ManageEtcHosts   bool        `yaml:"manage_etc_hosts"`
	Timezone         string      `yaml:"timezone,omitempty"`
	NTP              *ntpConfig  `yaml:"ntp,omitempty"`
	Users            []userEntry `yaml:"users,omitempty"`
	WriteFiles       []writeFile `yaml:"write_files"`
	RunCmd           [][]string  `yaml:"runcmd"`
}

type ntpConfig struct {
	Servers []string `yaml:"servers"`
}

type userEntry struct {
	Name              string   `yaml:"name"`
	Groups            string   `yaml:"groups,omitempty"`
	Sudo              string   `yaml:"sudo,omitempty"`
	LockPasswd        bool     `yaml:"lock_passwd"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys,omitempty"`
}

type writeFile struct {
	Path        string `yaml:"path"`
	Owner       string `yaml:"owner"`
	Permissions string `yaml:"permissions"`
	Content     string `yaml:"content"`
}

func renderUserData(in Input, n cluster.Node) ([]byte, error) {
	s := in.Spec
	script, err := renderScript(in, n)
	if err != nil {
		return nil, err
	}
	ud := userData{
		Hostname:         n.Name,
		FQDN:             fqdn(s, n),
		PreserveHostname: false,
		ManageEtcHosts:   false,
		Timezone:         s.Network.Timezone,
		WriteFiles: []writeFile{{
			Path: ScriptPath, Owner: "root:root", Permissions: "0700", Content: script,
		}},
		RunCmd: [][]string{{ScriptPath}},
	}
	if len(s.Network.NTP) > 0 {
		ud.NTP = &ntpConfig{Servers: s.Network.NTP}
	}
	for _, u := range s.Users {
		if u.Name == "" {
			return nil, errors.New("a user without a name")
		}
		e := userEntry{
			Name:              u.Name,
			Groups:            strings.Join(u.Groups, ","),
			LockPasswd:        true,
			SSHAuthorizedKeys: u.SSHAuthorizedKeys,
		}
		if u.Sudo {
			e.Sudo = "ALL=(ALL) NOPASSWD:ALL"
		}
		ud.Users = append(ud.Users, e)
	}
	body, err := marshal(ud)
	if err != nil {
		return nil, err
	}
	return append([]byte("#cloud-config\n"), body...), nil
}

//go:embed seed-install.sh.tmpl
var scriptTemplate string

var scriptTmpl = template.Must(template.New("seed-install.sh").
	Funcs(template.FuncMap{"q": shellQuote}).
	Parse(scriptTemplate))

func renderScript(in Input, n cluster.Node) (string, error) {
	// The block of /etc/hosts is the payload's (templates.HostsBlock),
	// markers included: install.sh later finds the same bytes.
	block := strings.Split(strings.TrimSuffix(string(templates.HostsBlock(in.Spec)), "\n"), "\n")
	var b strings.Builder
	err := scriptTmpl.Execute(&b, map[string]any{
		"Cluster":      in.Spec.Cluster.Name,
		"Node":         n.Name,
		"Label":        VolumeLabel,
		"BundleName":   NameBundle,
		"BundleSHA256": in.BundleSHA256,
		"BundleDir":    BundleDir,
		"BundleTop":    in.Spec.Cluster.Name + "-" + n.Name,
		"LogFile":      LogFile,
		"InstallArgs":  in.InstallArgs,
		"HostsBlock":   block,
		"HostsFile":    layout.EtcHosts,
		"SeedDirs":     SeedDirs,
		"CDROM":        layout.CDROM,
		"TempDir":      layout.RunDir,
		"Media":        in.PackagesMedia,
	})
	return b.String(), err
}

// shellQuote quotes s for POSIX shells with single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
