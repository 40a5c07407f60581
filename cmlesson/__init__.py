"""cmlesson: the package behind the consistency-models course (lesson 11.2).

One module per concept; the notation table is in ``notebooks/00_notation.md``:

========================  ==============================================================
``config``                every default, in small dataclasses
``data``                  2-D data sets (i.i.d.), a user's own points, sigma_data
``schedules``             noise levels (geometric, Karras) and the CT/iCT curricula
``parameterization``      c_skip, c_out, c_in, c_noise; ConsistencyFunction, EDMDenoiser
``networks``              the MLP backbone F(x_in, c_noise)
``samplers``              PF-ODE Euler/Heun, one- and multistep consistency sampling
``losses``                EDM, consistency distillation and training losses
``ema``                   target EMA and evaluation EMA
``training``              training loops with progress bars
``cpus``                  the CPUs really available, torch's thread count for one piece of work
``metrics``               exact 2-D W1, the lesson's per-dimension W1, noise floor
``plotting``              the course's figures
``checkpoints``           tiny pretrained models shipped with the package
``widgets``               live ipywidgets explorers
``trigflow``              TrigFlow time, sCM and the sCT/sCD tangent by one JVP (notebook 08)
``flowmap``               the average-velocity network and its jump sampler (notebook 08)
``shortcut``, ``meanflow``  shortcut models' self-consistency; MeanFlow's identity and target (notebook 08)
``frontier``              notebook 08's methods as the benchmark trains and measures them
``guidance``              class-conditional denoisers, label dropout, classifier-free guidance (notebook 09)
``latent``                the digits' latent space: PCA encoder/decoder, a tiny autoencoder (notebook 09)
``lcm``                   guided consistency distillation with skipping steps, LCM (notebook 09)
``judge``                 the digits classifier as a torch module (notebooks 07, 09; the digit explorer)
``exercises``             one module per exercise: inputs, kernel-side evaluation, judge, check
``checks``                the checks notebooks call (``checks.check_<id>``), and ``not_done``
========================  ==============================================================
"""

import os

# OpenMP threads that spin while waiting turn a shared 2-core machine (Binder, CI, a laptop running
# two kernels) into a crawl: 100 teacher steps took 72 s instead of 2.5 s with a second job running.
# Only effective when cmlesson is imported before torch; the notebooks do so.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
