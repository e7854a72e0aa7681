// Pins the Cluster API release whose CRDs (read from the module cache at run time)
// the sandbox installs. Nothing here is built.
module kubeswap.invalid/components/cluster-api

go 1.26.0

require sigs.k8s.io/cluster-api v1.14.2
