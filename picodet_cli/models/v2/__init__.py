"""PicoDet v2 (PP-PicoDet "enhanced", 2022): LCNet -> LCPAN -> PicoHeadV2, ATSS then TaskAligned assignment.

`detector.PicoDetV2` is the network the generation registry builds; `neck`, `head`, `assigners`, `loss` and
`postprocess` are its parts (spec PICODET_V2_SPEC.md §3-§6). The backbone is the shared `backbones.lcnet`.
"""
