@echo off
rem Start, stop and inspect Caliber's background services on Windows:
rem two Celery workers (scoring; exports/maintenance/monitoring/notifications),
rem Celery beat and, when it is installed, Flower.  Run "start_workers.bat help".
rem
rem How processes are tracked
rem   Each service is started with  start "" /b ... >>run\logs\NAME.log 2>&1  (no new
rem   window), so a window title cannot identify it.  Right after starting, the script
rem   looks the new process up by image name and command line (wmic, or PowerShell's
rem   Get-CimInstance where wmic is gone, as on recent Windows 11) and writes
rem   "PID IMAGE" to run\pids\NAME.pid.  status checks that PID with tasklist (same
rem   PID *and* same image name, so a reused PID is reported as stale).
rem   start /b leaves the services attached to this console: closing its window
rem   (or Ctrl+C / Ctrl+Break in it) ends them too; run stop before closing.
rem
rem How services are stopped
rem   Windows has no SIGTERM for console programs, so stop is  taskkill /PID n /T /F
rem   (the whole process tree).  Tasks in flight are not lost: Caliber's Celery app
rem   acknowledges tasks late, so the broker hands them to the next worker.
rem
rem Worker pool
rem   Celery's default prefork pool does not work on Windows.  This script sets
rem   CALIBER_WORKER_POOL=solo (unless it is already set) and `caliber worker` reads
rem   it as Celery's --pool.  solo runs one task at a time whatever the concurrency;
rem   set CALIBER_WORKER_POOL=threads to make SCORING_CONCURRENCY/GENERAL_CONCURRENCY
rem   count.  Only this .bat sets a default: start_workers.sh keeps Celery's prefork.
rem
rem Exit status: 0 ok, 1 failure, 2 usage error.

setlocal EnableExtensions DisableDelayedExpansion

set "SCRIPT=%~nx0"
set "REPO_ROOT=%~dp0.."
if not defined CALIBER_RUN_DIR set "CALIBER_RUN_DIR=run"
set "PID_DIR=%CALIBER_RUN_DIR%\pids"
set "LOG_DIR=%CALIBER_RUN_DIR%\logs"
if not defined SCORING_CONCURRENCY set "SCORING_CONCURRENCY=2"
if not defined GENERAL_CONCURRENCY set "GENERAL_CONCURRENCY=2"
if not defined CALIBER_LOGLEVEL set "CALIBER_LOGLEVEL=info"
if not defined CALIBER_WORKER_POOL set "CALIBER_WORKER_POOL=solo"
if not defined FLOWER_PORT set "FLOWER_PORT=5555"
if not defined CALIBER_FLOWER set "CALIBER_FLOWER=auto"
if not defined START_GRACE set "START_GRACE=3"
set "CELERY_APP=caliber.jobs.celery_app:app"
set "SERVICES=scoring general beat flower"
set "FAILED=0"

set "ACTION=%~1"
if "%ACTION%"=="" goto usage_error
if /i "%ACTION%"=="help" goto help
if /i "%ACTION%"=="-h" goto help
if /i "%ACTION%"=="--help" goto help
if /i "%ACTION%"=="/?" goto help
if not "%~2"=="" (
    echo %SCRIPT%: %ACTION% takes no arguments 1>&2
    goto usage_error
)
if /i "%ACTION%"=="start" goto action_start
if /i "%ACTION%"=="stop" goto action_stop
if /i "%ACTION%"=="restart" goto action_restart
if /i "%ACTION%"=="status" goto action_status
echo %SCRIPT%: unknown action "%ACTION%" 1>&2
goto usage_error

rem ---------------------------------------------------------------------------
:action_start
call :resolve_caliber || exit /b 1
call :check_redis || exit /b 1
call :start_all
exit /b %FAILED%

:action_stop
for %%K in (%SERVICES%) do call :stop_one %%K
exit /b %FAILED%

:action_restart
call :resolve_caliber || exit /b 1
call :check_redis || exit /b 1
for %%K in (%SERVICES%) do call :stop_one %%K
if not "%FAILED%"=="0" exit /b 1
call :start_all
exit /b %FAILED%

:action_status
call :resolve_python
for %%K in (%SERVICES%) do call :status_one %%K
exit /b 0

rem ---------------------------------------------------------------------------
:help
echo Usage: %SCRIPT% start ^| stop ^| restart ^| status ^| help
echo.
echo Start, stop and inspect Caliber's background services (run from the folder
echo that holds your .env; logs and PID files go to %%CALIBER_RUN_DIR%%, default run\).
echo.
echo Services:
echo   scoring   caliber worker --queues scoring  (concurrency SCORING_CONCURRENCY, 2)
echo   general   caliber worker --queues exports,maintenance,monitoring,notifications
echo             (concurrency GENERAL_CONCURRENCY, 2)
echo   beat      caliber beat
echo   flower    celery --app %CELERY_APP% flower --port FLOWER_PORT (5555),
echo             only when Flower is installed (pip install flower)
echo.
echo Environment:
echo   CELERY_BROKER_URL / REDIS_URL  broker PINGed before starting (also read from .env),
echo                        e.g. set REDIS_URL=redis://localhost:6379/0
echo   CALIBER_BIN          caliber.exe to run (default: next to python.exe on PATH,
echo                        else .venv\Scripts\caliber.exe)
echo   CALIBER_PYTHON       python.exe for Flower and the Redis check
echo   CALIBER_WORKER_POOL  Celery pool for the workers, default solo (prefork does not
echo                        work on Windows; threads honours the concurrency)
echo   CALIBER_LOGLEVEL     default info
echo   CALIBER_FLOWER       auto (default) or off
echo   FLOWER_PORT          default 5555; Flower has no login by default: set
echo                        FLOWER_ADDRESS=127.0.0.1 and/or FLOWER_BASIC_AUTH=user:password
echo   START_GRACE          seconds to wait before checking started services (default 3)
echo.
echo stop kills each service's process tree (taskkill /T /F); unfinished tasks are
echo redelivered by the broker.
echo.
echo Exit status: 0 ok, 1 failure, 2 usage error.
exit /b 0

:usage_error
echo Usage: %SCRIPT% start ^| stop ^| restart ^| status ^| help 1>&2
exit /b 2

rem ---------------------------------------------------------------------------
rem Executables

:resolve_caliber
if defined CALIBER_BIN (
    set "CALIBER=%CALIBER_BIN%"
    goto caliber_check
)
set "PYTHON_ON_PATH="
for %%Q in (python.exe) do set "PYTHON_ON_PATH=%%~$PATH:Q"
if not defined PYTHON_ON_PATH goto caliber_venv
for %%Q in ("%PYTHON_ON_PATH%") do set "CALIBER=%%~dpQcaliber.exe"
if exist "%CALIBER%" goto caliber_check
:caliber_venv
set "CALIBER=%REPO_ROOT%\.venv\Scripts\caliber.exe"
:caliber_check
if exist "%CALIBER%" goto caliber_found
echo error: cannot find caliber.exe: activate Caliber's virtualenv or set CALIBER_BIN 1>&2
exit /b 1
:caliber_found
for %%Q in ("%CALIBER%") do (
    set "CALIBER_DIR=%%~dpQ"
    set "CALIBER_IMAGE=%%~nxQ"
)
call :resolve_python
exit /b 0

:resolve_python
if defined PYTHON exit /b 0
if defined CALIBER_PYTHON (
    set "PYTHON=%CALIBER_PYTHON%"
    exit /b 0
)
if defined CALIBER_DIR if exist "%CALIBER_DIR%python.exe" (
    set "PYTHON=%CALIBER_DIR%python.exe"
    exit /b 0
)
if exist "%REPO_ROOT%\.venv\Scripts\python.exe" (
    set "PYTHON=%REPO_ROOT%\.venv\Scripts\python.exe"
    exit /b 0
)
set "PYTHON=python"
exit /b 0

rem ---------------------------------------------------------------------------
rem Redis check: Python's socket sends PING (with AUTH when the URL has a password)
rem to CELERY_BROKER_URL, else REDIS_URL, from the environment or .env.

:check_redis
set "P=import os,socket,ssl,sys,urllib.parse as u;"
set "P=%P%sys.excepthook=lambda t,e,b:print(t.__name__+': '+str(e));"
set "P=%P%d=dict((l.split('=',1)[0].strip(),l.split('=',1)[1].strip().strip(chr(34)+chr(39))) for l in (open('.env',encoding='utf-8').read().splitlines() if os.path.exists('.env') else []) if '=' in l and not l.lstrip().startswith('#'));"
set "P=%P%n=[k for k in ('CELERY_BROKER_URL','REDIS_URL') if os.environ.get(k) or d.get(k)];"
set "P=%P%n or sys.exit('neither CELERY_BROKER_URL nor REDIS_URL is set (environment or .env)');"
set "P=%P%url=os.environ.get(n[0]) or d.get(n[0]);p=u.urlsplit(url);"
set "P=%P%shown=url.replace(':'+p.password+'@',':***@') if p.password else url;"
set "P=%P%p.scheme in ('redis','rediss') or sys.exit('broker URL '+shown+' is not redis:// or rediss://');"
set "P=%P%c=lambda *a:b''.join([b'*'+str(len(a)).encode()+b'\r\n']+[b'$'+str(len(x.encode())).encode()+b'\r\n'+x.encode()+b'\r\n' for x in a]);"
set "P=%P%sys.excepthook=lambda t,e,b:print('Redis is not reachable at '+shown+' (from '+n[0]+'): '+str(e));"
set "P=%P%s=socket.create_connection((p.hostname,p.port or 6379),timeout=5);"
set "P=%P%s=ssl.create_default_context().wrap_socket(s,server_hostname=p.hostname) if p.scheme=='rediss' else s;"
set "P=%P%pw=u.unquote(p.password or '');"
set "P=%P%s.sendall(((c('AUTH',u.unquote(p.username),pw) if p.username else c('AUTH',pw)) if pw else b'')+c('PING'));"
set "P=%P%r=s.recv(4096);r=r+s.recv(4096) if pw and r.count(b'\r\n')<2 and r.startswith(b'+') else r;"
set "P=%P%ok=r.split(b'\r\n')[-2]==b'+PONG' if r.count(b'\r\n') else False;"
set "P=%P%print(('Redis answered PING at ' if ok else 'Redis is not reachable at ')+shown+('' if ok else ' (from '+n[0]+'): '+r.decode(errors='replace').strip()));"
set "P=%P%sys.exit(0 if ok else 1)"
"%PYTHON%" -c "%P%"
if errorlevel 1 (
    echo error: start Redis, or point CELERY_BROKER_URL / REDIS_URL at a running one 1>&2
    exit /b 1
)
exit /b 0

rem ---------------------------------------------------------------------------
rem PID files hold "PID IMAGE".  :state NAME sets STATE (running, stale, stopped),
rem SPID and SIMAGE.

:state
set "STATE=stopped"
set "SPID="
set "SIMAGE="
if not exist "%PID_DIR%\%~1.pid" exit /b 0
for /f "usebackq tokens=1,2" %%I in ("%PID_DIR%\%~1.pid") do (
    set "SPID=%%I"
    set "SIMAGE=%%J"
)
set "STATE=stale"
if not defined SPID exit /b 0
if not defined SIMAGE exit /b 0
tasklist /FI "PID eq %SPID%" /FI "IMAGENAME eq %SIMAGE%" /NH 2>nul | find " %SPID% " >nul && set "STATE=running"
exit /b 0

:status_one
call :state %1
if "%STATE%"=="running" (
    echo %~1: running ^(pid %SPID%^)
    exit /b 0
)
if "%STATE%"=="stale" (
    echo %~1: stale ^(pid %SPID% not running; PID file %PID_DIR%\%~1.pid^)
    exit /b 0
)
if not "%~1"=="flower" goto status_stopped
if /i "%CALIBER_FLOWER%"=="off" (
    echo %~1: disabled ^(CALIBER_FLOWER=off^)
    exit /b 0
)
"%PYTHON%" -c "import flower" >nul 2>&1
if errorlevel 1 (
    echo %~1: not installed ^(pip install flower^)
    exit /b 0
)
:status_stopped
echo %~1: stopped
exit /b 0

rem ---------------------------------------------------------------------------
rem start

:start_all
if not exist "%PID_DIR%" mkdir "%PID_DIR%"
if not exist "%LOG_DIR%" mkdir "%LOG_DIR%"
set "LAUNCHED="
for %%K in (%SERVICES%) do call :start_one %%K
if not defined LAUNCHED exit /b 0
rem Give the services a moment, then make sure none died at once.
"%PYTHON%" -c "import time; time.sleep(%START_GRACE%)"
for %%K in (%LAUNCHED%) do call :verify_one %%K
exit /b 0

:start_one
call :state %1
if "%STATE%"=="running" (
    echo error: %~1 is already running ^(pid %SPID%^); use stop or restart 1>&2
    set "FAILED=1"
    exit /b 0
)
if "%STATE%"=="stale" (
    del /q "%PID_DIR%\%~1.pid" >nul 2>&1
    echo %~1: removed stale PID file
)
set "LOG=%LOG_DIR%\%~1.log"
echo === %DATE% %TIME% starting %~1 (pool %CALIBER_WORKER_POOL%) >>"%LOG%"
goto launch_%~1

:launch_scoring
start "" /b "%CALIBER%" worker --queues scoring --concurrency %SCORING_CONCURRENCY% --loglevel %CALIBER_LOGLEVEL% --hostname scoring@%%h >>"%LOG%" 2>&1
set "WQL=name='%CALIBER_IMAGE%' and commandline like '%%--hostname scoring@%%'"
set "IMAGE=%CALIBER_IMAGE%"
goto launched

:launch_general
start "" /b "%CALIBER%" worker --queues exports,maintenance,monitoring,notifications --concurrency %GENERAL_CONCURRENCY% --loglevel %CALIBER_LOGLEVEL% --hostname general@%%h >>"%LOG%" 2>&1
set "WQL=name='%CALIBER_IMAGE%' and commandline like '%%--hostname general@%%'"
set "IMAGE=%CALIBER_IMAGE%"
goto launched

:launch_beat
start "" /b "%CALIBER%" beat --loglevel %CALIBER_LOGLEVEL% >>"%LOG%" 2>&1
set "WQL=name='%CALIBER_IMAGE%' and commandline like '%% beat %%'"
set "IMAGE=%CALIBER_IMAGE%"
goto launched

:launch_flower
if /i "%CALIBER_FLOWER%"=="off" (
    echo flower: skipped ^(CALIBER_FLOWER=off^)
    exit /b 0
)
"%PYTHON%" -c "import flower" >nul 2>&1
if errorlevel 1 (
    echo flower: skipped, Flower is not installed ^(pip install flower^)
    exit /b 0
)
for %%Q in ("%PYTHON%") do set "IMAGE=%%~nxQ"
if /i not "%IMAGE:~-4%"==".exe" set "IMAGE=%IMAGE%.exe"
start "" /b "%PYTHON%" -m celery --app %CELERY_APP% flower --port %FLOWER_PORT% >>"%LOG%" 2>&1
set "WQL=name='%IMAGE%' and commandline like '%%celery_app:app flower%%'"
goto launched

:launched
call :find_pid
if not defined FOUND_PID (
    echo error: %~1 was started but its process could not be found; see %LOG% 1>&2
    set "FAILED=1"
    exit /b 0
)
>"%PID_DIR%\%~1.pid" echo %FOUND_PID% %IMAGE%
echo %~1: started ^(pid %FOUND_PID%^), log %LOG%
set "LAUNCHED=%LAUNCHED% %~1"
exit /b 0

rem Sets FOUND_PID to the process matching the WQL filter in %WQL% (wmic, else
rem PowerShell's Get-CimInstance, which reads the filter from the environment).
:find_pid
set "FOUND_PID="
where wmic >nul 2>&1 || goto find_pid_powershell
for /f "tokens=2 delims==" %%I in ('wmic process where "%WQL%" get processid /value 2^>nul ^| find "="') do (
    for /f %%J in ("%%I") do if not defined FOUND_PID set "FOUND_PID=%%J"
)
exit /b 0
:find_pid_powershell
for /f %%I in ('powershell -NoProfile -Command "(Get-CimInstance Win32_Process -Filter $env:WQL | Select-Object -First 1).ProcessId" 2^>nul') do (
    if not defined FOUND_PID set "FOUND_PID=%%I"
)
exit /b 0

:verify_one
call :state %1
if "%STATE%"=="running" exit /b 0
echo error: %~1 exited right after starting; see %LOG_DIR%\%~1.log 1>&2
del /q "%PID_DIR%\%~1.pid" >nul 2>&1
set "FAILED=1"
exit /b 0

rem ---------------------------------------------------------------------------
rem stop

:stop_one
call :state %1
if "%STATE%"=="stopped" (
    echo %~1: not running
    exit /b 0
)
if "%STATE%"=="stale" (
    del /q "%PID_DIR%\%~1.pid" >nul 2>&1
    echo %~1: removed stale PID file
    exit /b 0
)
taskkill /PID %SPID% /T /F >nul 2>&1
call :state %1
if "%STATE%"=="running" (
    echo error: could not stop %~1 ^(pid %SPID%^) 1>&2
    set "FAILED=1"
    exit /b 0
)
del /q "%PID_DIR%\%~1.pid" >nul 2>&1
echo %~1: stopped
exit /b 0
