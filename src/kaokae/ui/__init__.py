"""`kaokae ui`: the pipeline in a local web app. Every form is generated from the commands' typed options
(kaokae.options), every long task is a `python -m kaokae COMMAND ...` job (kaokae.ui.jobs), every file read or
served lies inside the workspace (kaokae.ui.workspace), and the convert/swap previews call the same library code as
the commands (kaokae.ui.preview)."""
