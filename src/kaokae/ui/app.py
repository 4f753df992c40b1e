"""The web app: a Starlette application serving one page (static/index.html, which builds its forms from
/api/forms) and a small JSON API over the library. Every path in a request is a workspace-relative name checked
by the workspace; every error is the CLI's one line; long work is a job (kaokae.ui.jobs).

Starlette rather than Gradio: every route is ours (Gradio adds file routes and copies uploads into /tmp/gradio,
outside the workspace), the page's elements keep stable ids for the browser tests, and it costs ~1 MB instead of
~500 MB of dependencies."""

import contextlib
import sys
import time
import traceback
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from kaokae.errors import KaokaeError
from kaokae.extract.person_map import MapEntry
from kaokae.ui import forms
from kaokae.ui.jobs import JobRunner
from kaokae.ui.live import LiveManager
from kaokae.ui.live import routes as live_routes
from kaokae.ui.preview import Previewer
from kaokae.ui.workspace import MAX_UPLOAD_BYTES, STATE, OutsideWorkspace, Workspace

STATIC = Path(__file__).parent / "static"
NEW_KINDS = {"new faceset": "faceset", "new people": "people"}  # else a new output file
MAPPED_FILES = (("convert", "model"), ("swap", "source"))  # files a --map replaces
PAGES = ("media", "extract", "train", "convert", "swap", "live", "evaluate", "verify", "jobs")


class TooLarge(KaokaeError):
    pass


class NotJson(KaokaeError):
    pass


def _error(e: BaseException) -> JSONResponse:
    if isinstance(e, OutsideWorkspace):
        return JSONResponse({"error": forms.cli_message(e)}, status_code=403)
    if isinstance(e, (TooLarge, NotJson)):
        return JSONResponse({"error": forms.cli_message(e)}, status_code=413 if isinstance(e, TooLarge) else 415)
    if isinstance(e, KaokaeError):
        return JSONResponse({"error": forms.cli_message(e)}, status_code=400)
    traceback.print_exc(file=sys.stderr)  # the server's own log; the page gets one line
    return JSONResponse({"error": "kaokae: error: unexpected error (the terminal running `kaokae ui` has the "
                                  "details)"}, status_code=500)


def api(handler):
    """A JSON endpoint: the handler's result as JSON, any error as {"error": one line}."""
    async def endpoint(request: Request):
        try:
            result = await handler(request)
        except Exception as e:  # noqa: BLE001 - every error becomes one line for the page
            return _error(e)
        return result if isinstance(result, Response) else JSONResponse(result)
    return endpoint


def create_app(workspace_dir: str | Path, allowed_hosts: list[str] | None = None, poll_s: float = 0.5,
               max_upload: int = MAX_UPLOAD_BYTES) -> Starlette:
    ws = Workspace(workspace_dir)
    runner = JobRunner(ws, poll_s)
    previewer = Previewer(ws.root / STATE / "previews")
    live = LiveManager(ws)
    commands = forms.commands()

    async def body(request: Request) -> dict:
        # JSON only: a form on another site cannot send it without the browser asking this server first (CORS)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise NotJson("the request's body must be JSON (Content-Type: application/json)")
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise KaokaeError("the request's body must be a JSON object")
        return data

    async def index(request: Request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def static(request: Request):
        name = request.path_params["name"]
        return FileResponse(ws_inside(STATIC, name), headers={"Cache-Control": "no-store"})

    def ws_inside(root, name):
        from kaokae.ui.workspace import inside
        path = inside(root, name, "file")
        if not path.is_file():
            raise KaokaeError(f"no such file: {name}")
        return path

    async def file(request: Request):
        return FileResponse(ws_inside(ws.root, request.path_params["name"]), headers={"Cache-Control": "no-store"})

    async def form_list(request: Request):
        return {name: {"files": [list(f) for f in c.files], "options": forms.form(c.options)}
                for name, c in commands.items()}

    async def files(request: Request):
        return ws.listing()

    async def upload(request: Request):
        declared = int(request.headers.get("content-length") or 0)
        too_big = TooLarge(f"larger than the upload limit of {max_upload / 1024**2:g} MB")
        if declared > max_upload:
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > max_upload:  # a body longer than its Content-Length said
                raise too_big
        name = await run_in_threadpool(ws.save_upload, request.query_params.get("name", "upload"), chunks,
                                       max_upload)
        return {"path": name}

    async def media_info(request: Request):
        from kaokae.media import probe

        path = ws.existing(request.query_params.get("path"), "media")
        info = await run_in_threadpool(probe, path)
        fps = float(info.fps) if info.fps else None
        return {"path": ws.relative(path), "kind": info.kind, "width": info.width, "height": info.height, "fps": fps,
                "frame_count": info.frame_count, "duration": info.duration, "has_audio": info.has_audio,
                "codec": info.codec}

    async def faceset(request: Request):
        from kaokae.extract import faceset_info

        path = ws.existing(request.query_params.get("path"), "faceset")
        name = ws.relative(path)
        plot = ws.root / STATE / "plots" / f"{name.replace('/', '_')}.coverage.png"
        plot.parent.mkdir(exist_ok=True)
        summary = await run_in_threadpool(faceset_info, path, plot)
        rejected = sorted(p for p in (path / "rejected").glob("*.png")) if (path / "rejected").is_dir() else []
        sheet = path / "contact_sheet.png"
        return {"path": name, "lines": summary.lines(), "coverage": ws.relative(plot),
                "contact_sheet": ws.relative(sheet) if sheet.is_file() else None,
                "rejected": [ws.relative(p) for p in rejected[:200]], "rejected_count": len(rejected)}

    async def model(request: Request):
        from kaokae.train.checkpoint import LOSS_PLOT, PREVIEW, read_history

        path = ws.existing(request.query_params.get("path"), "model")
        history = await run_in_threadpool(read_history, path)
        losses = [r for r in history if "loss_a" in r or "faces_per_s" in r]
        last = losses[-1] if losses else {}
        out = {"path": ws.relative(path), "iteration": last.get("iteration", 0), "last": last}
        for key, name in (("preview", PREVIEW), ("loss_plot", LOSS_PLOT)):
            image = path / name
            out[key] = ws.relative(image) if image.is_file() else None
            out[f"{key}_mtime"] = image.stat().st_mtime_ns if image.is_file() else None
        return out

    def option_paths_inside(options):
        """Paths among the options (and the references and targets of a --map) are workspace names too; returns the
        options with those paths in the workspace (for the previews, which run here, not in the workspace)."""
        def resolved(v, flag: str):
            if isinstance(v, MapEntry):
                return MapEntry(tuple(ws.path(str(p), flag) for p in v.references),
                                tuple(ws.path(str(p), flag) for p in v.targets))
            return ws.path(str(v), flag) if isinstance(v, Path) else v

        values = {}
        for e in forms.opts.entries(type(options)):
            flag, value = f"--{forms.opts.flag_name(e.name)}", forms.opts.get(options, e)
            values[e.name] = [resolved(v, flag) for v in value] if isinstance(value, list) else resolved(value, flag)
        return forms.opts.build(type(options), values)

    def _files(command: forms.Command, given: dict, mapped: bool = False) -> tuple[list[str], list[str]]:
        """The command line's file arguments from the page's choices, and the job's outputs."""
        args, outputs = [], []
        for name, flag, kind, several in command.files:
            value = given.get(name)
            values = value if isinstance(value, list) else ([] if value in (None, "") else [value])
            if not values:
                if (command.name, name) in (("evaluate", "target"), *(MAPPED_FILES if mapped else ())):
                    continue
                raise KaokaeError(f"choose the {name.replace('_', ' ')}")
            if not several and len(values) > 1:
                raise KaokaeError(f"choose one {name.replace('_', ' ')}")
            if kind.startswith("new "):
                names = [ws.new_name(NEW_KINDS.get(kind, "output"), v) for v in values]
                outputs += names
            elif kind == "model" and command.name == "train":
                names = [ws.new_name("model", v) if "/" not in str(v) else ws.relative(ws.path(v, name))
                         for v in values]
                ws.path(names[0], name)
                outputs += names
            else:
                names = [ws.relative(ws.existing(v, name)) for v in values]
            args += ([flag] if flag else []) + names
        return args, outputs

    async def submit(request: Request):
        data = await body(request)
        command = commands.get(data.get("command"))
        if command is None:
            raise KaokaeError(f"unknown command {data.get('command')!r}")
        raw = dict(data.get("options") or {})
        if command.name == "evaluate":  # the page shows the report's files: they go to evaluations/
            stamp = time.strftime("%Y%m%d-%H%M%S")
            raw["json"] = raw.get("json") or f"evaluations/evaluate-{stamp}.json"
            raw["png"] = raw.get("png") or f"evaluations/evaluate-{stamp}.png"
            for key in ("json", "png"):
                raw[key] = ws.relative(ws.path(raw[key], key)) if "/" in raw[key] else raw[key]
        options = forms.parse(command.options, raw)
        option_paths_inside(options)
        args, outputs = _files(command, data.get("files") or {}, bool(getattr(options, "map", None)))
        if command.name == "evaluate":
            outputs += [str(options.json), str(options.png)]
        job = runner.submit(command.name, [*command.name.split(), *args, *forms.argv(options)], outputs)
        return job.to_json()

    async def job_list(request: Request):
        return {"jobs": [j.to_json() for j in runner.jobs()]}

    async def cancel(request: Request):
        await body(request)  # JSON, so that no other site's form can cancel a job
        try:
            return runner.cancel(int(request.path_params["id"])).to_json()
        except (KeyError, ValueError):
            raise KaokaeError(f"no job {request.path_params['id']}") from None

    async def job_log(request: Request):
        try:
            job_id = int(request.path_params["id"])
            runner.get(job_id)
        except (KeyError, ValueError):
            raise KaokaeError(f"no job {request.path_params['id']}") from None
        path = runner.log_path(job_id)
        return FileResponse(path, media_type="text/plain") if path.is_file() else Response("", media_type="text/plain")

    async def preview(request: Request):
        """One frame of a convert or a classic swap with the page's options (the same for both pages)."""
        kind = request.path_params["kind"]
        if kind not in ("convert", "swap"):
            raise KaokaeError(f"there is no preview of {kind!r}")
        data = await body(request)
        options = option_paths_inside(forms.parse(commands[kind].options, dict(data.get("options") or {})))
        frame = data.get("frame", 0)
        if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
            raise KaokaeError(f"frame must be a frame number, not {frame!r}")
        if kind == "convert":
            model = data.get("model")
            files = (ws.existing(data.get("input"), "input"),
                     ws.existing(model, "model") if model or not options.map else None)
        else:
            sources = data.get("source") or []
            if not isinstance(sources, list):
                raise KaokaeError("source must be a list of photos")
            files = ([ws.existing(s, "source") for s in sources], ws.existing(data.get("target"), "target"))
        start = time.perf_counter()
        path = await run_in_threadpool(getattr(previewer, kind), *files, frame, options)
        return {"image": ws.relative(path), "seconds": round(time.perf_counter() - start, 3)}

    async def people(request: Request):
        """The people `kaokae people` found in a video, when a job of the UI has found them (people/, newer than the
        video); else where such a job writes them."""
        video = ws.existing(request.query_params.get("input"), "input")
        folder = ws.people_folder(ws.relative(video))
        sheet = ws.root / folder / "contact_sheet.png"
        found = sheet.is_file() and sheet.stat().st_mtime_ns >= video.stat().st_mtime_ns
        photos = sorted((ws.root / folder).glob("person_*.png")) if found else []
        return {"input": ws.relative(video), "folder": folder, "found": found,
                "contact_sheet": ws.relative(sheet) if found else None,
                "people": [{"name": p.stem, "photo": ws.relative(p)} for p in photos]}

    async def restore(request: Request):
        from kaokae.extract import restore_faceset

        data = await body(request)
        path = ws.existing(data.get("path"), "faceset")
        names = data.get("names") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise KaokaeError("names must be a list of rejected face names")
        fs, restored = await run_in_threadpool(restore_faceset, path, names, bool(data.get("all")))
        return {"path": ws.relative(path), "restored": restored, "faces": len(fs), "rejected": len(fs.rejected)}

    async def verify(request: Request):
        from kaokae.provenance.verify import format_report
        from kaokae.provenance.verify import verify as verify_file

        data = await body(request)
        path = ws.existing(data.get("path"), "file")
        report = await run_in_threadpool(verify_file, path)
        return {"path": ws.relative(path), "labelled": bool(report.labelled), "report": format_report(report)}

    routes = [
        Route("/", index),
        Route("/static/{name:path}", api(static)),
        Route("/file/{name:path}", api(file)),
        Route("/api/forms", api(form_list)),
        Route("/api/files", api(files)),
        Route("/api/upload", api(upload), methods=["POST"]),
        Route("/api/info", api(media_info)),
        Route("/api/faceset", api(faceset)),
        Route("/api/model", api(model)),
        Route("/api/jobs", api(job_list)),
        Route("/api/jobs", api(submit), methods=["POST"]),
        Route("/api/jobs/{id}/cancel", api(cancel), methods=["POST"]),
        Route("/api/jobs/{id}/log", api(job_log)),
        Route("/api/preview/{kind}", api(preview), methods=["POST"]),
        Route("/api/people", api(people)),
        Route("/api/faceset/restore", api(restore), methods=["POST"]),
        Route("/api/verify", api(verify), methods=["POST"]),
        *live_routes(live, api, body),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        runner.start()
        yield
        live.close()
        runner.stop()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.workspace, app.state.runner, app.state.previewer = ws, runner, previewer
    return app
