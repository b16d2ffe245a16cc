"""The `libvirt` driver: KVM/QEMU and Xen through libvirt (needs libvirt-python).

`backend` reads the host (`topology`) and its domains, measures running ones from their
QEMU process, and starts and stops domains whose XML `domain_xml` writes; `balloon` and
`domain_balloons` are its balloon drivers; `mover` changes `<numatune>` live, pins vCPUs
and live-migrates. Imported only when the agent runs this backend.
"""
