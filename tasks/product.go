package tasks

import (
	"errors"

	"github.com/drover-sh/drover/inventory"
)

// Product is what the node procedure needs to know about the software it
// rolls out and that differs between releases: which release a product
// directory holds, how a node of a profile is started on a release, how a
// release is adapted to a node's profile, and whether a node and the pack
// meant for it fit the inventory at all. tasks/apim implements it for WSO2
// API Manager from its release catalog; the procedure itself knows no
// release.
//
// A product is named by what its release directory says it is (for API
// Manager, the first line of updates/product.txt); "" names the release
// the node is being brought to.
type Product interface {
	// Identify returns the release and distribution a product name
	// denotes, both "" when the product is unknown.
	Identify(product string) (release, distribution string)
	// Start returns the startup script of node n on a release of product,
	// relative to the release directory, and the arguments after "start".
	Start(inv *inventory.Inventory, n *inventory.Node, product string) (script string, args []string)
	// Setup returns a shell command that adapts the release in dir to
	// node n's profile, and a check of the command's output (such scripts
	// may report failure only there); cmd is "" when the release needs no
	// adapting for the profile. summary says what the command does, for
	// plans.
	Setup(inv *inventory.Inventory, n *inventory.Node, product, dir string) (cmd, summary string, check func(out string) error)
	// Carry lists what is carried from the running release into the next:
	// overwrite paths (the operator's copy wins over the new release's),
	// add paths (the operator's extra files are added, the new release's
	// own kept), and the folders where the server unpacks .war archives
	// at start, whose unpacked copies are never carried.
	Carry() (overwrite, add, unpacked []string)
	// Check refuses, before anything changes, a node whose release
	// (product) or pack (packProduct and packPath, "" without a pack) does
	// not fit the inventory.
	Check(inv *inventory.Inventory, n *inventory.Node, product, packProduct, packPath string) error
	// EnvFile renders the environment file that carries node n's jvm
	// settings and env variables to its server: the file's path relative
	// to the release directory, and its KEY=VALUE lines (readable by the
	// POSIX shell and by systemd's EnvironmentFile=), real and with env()
	// values hidden. content is nil when n sets neither; path is given
	// either way. The node's start command loads the file when it exists.
	EnvFile(n *inventory.Node) (path string, content, shown []byte, err error)
}

// errNoProduct is a job without a Product: a programming error.
var errNoProduct = errors.New("drover: the job has no product to roll out (tasks.Job.Product is nil)")

// targetProduct is the product the node is being brought to: the pack's
// when one is installed, else "" (the node's own release per the
// inventory).
func (j *Job) targetProduct() string {
	if j.Pack != nil {
		return j.Pack.Product
	}
	return ""
}

// startCmd is the script and arguments that start the node on a release of
// product, as one string for the shell (the script quoted).
func (j *Job) startCmd(product string) (script, args string) {
	s, a := j.Product.Start(j.Inv, j.Node, product)
	for _, x := range a {
		args += " " + q(x)
	}
	return s, args
}

// setup is the profile setup of the release in dir, which holds product.
func (j *Job) setup(product, dir string) (cmd, summary string, check func(string) error) {
	return j.Product.Setup(j.Inv, j.Node, product, dir)
}
