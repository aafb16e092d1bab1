@echo off
rem Caliber's background services on Windows: opens one console window per service, running
rem the commands start_workers.sh runs (the two workers, beat). Stop a service with Ctrl+C in
rem its window; there are no PID files, logs, status, stop or restart here: for those, run
rem start_workers.sh under WSL.
rem
rem NOT TESTED: Caliber's CI runs on Linux, where only this file's queue list is checked
rem (tests/test_worker_scripts.py). Celery does not support Windows officially and its default
rem prefork pool does not work there, so the workers use CALIBER_WORKER_POOL=threads unless it
rem is set. Flower is not started: run  celery --app caliber.jobs.celery_app:app flower  yourself.
setlocal
if not "%~1"=="" if /i not "%~1"=="start" (
    echo usage: %~nx0 [start]   opens the scoring and general workers and beat, one window each 1>&2
    echo stop, restart, status and logs: close the windows, or use start_workers.sh under WSL 1>&2
    exit /b 2
)
where caliber >nul 2>nul || (echo %~nx0: caliber is not on PATH: activate Caliber's virtualenv 1>&2 & exit /b 1)
if not defined REDIS_URL if not defined CELERY_BROKER_URL (
    findstr /b "REDIS_URL= CELERY_BROKER_URL=" .env >nul 2>nul || (
        echo %~nx0: neither CELERY_BROKER_URL nor REDIS_URL is set ^(environment or .env^) 1>&2
        exit /b 1
    )
)
if not defined SCORING_CONCURRENCY set "SCORING_CONCURRENCY=2"
if not defined GENERAL_CONCURRENCY set "GENERAL_CONCURRENCY=2"
if not defined CALIBER_WORKER_POOL set "CALIBER_WORKER_POOL=threads"
rem cmd /k keeps a window open after its service exits, so its last error stays readable
start "caliber scoring" cmd /k caliber worker --queues scoring --concurrency %SCORING_CONCURRENCY% --hostname scoring@%%h
start "caliber general" cmd /k caliber worker --queues exports,maintenance,monitoring,notifications --concurrency %GENERAL_CONCURRENCY% --hostname general@%%h
start "caliber beat" cmd /k caliber beat
