"""The pure domain core: money, identifiers, loan arithmetic and the rules of post-loan work.

Nothing in this package performs I/O or imports from `huifang.store`, `huifang.services`,
`huifang.web`, `huifang.batch`, `huifang.voice` or any framework; a test enforces it.
"""
