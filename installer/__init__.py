"""Offline bundle builder (connected side) and installer (air-gapped side, stdlib only).

Not built yet: the USB installer is a later issue. It must import none of appliance, policies, audit.
"""
