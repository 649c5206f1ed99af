//! A resource's state kept by a task of its own (WASI 0.3 build). An I/O future of the
//! component-model async ABI belongs to the task that first polled it: one started in one
//! export call and polled again in the next (a part still in flight when `write` returns,
//! a range fetched ahead of `read`) confuses the host (wasmtime 48: "BUG: delivering
//! non-present event"). So a writer's or a download's state lives in a task spawned by the
//! export that made it, and each later call hands that task a job and waits for its answer:
//! every future of the state is polled by that one task. The jobs run in order, one at a
//! time. When the resource is dropped, the task runs its last job (`on_close`: a writer
//! left unfinished aborts its upload) and ends.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

type Job<S> = Box<dyn FnOnce(Rc<RefCell<S>>) -> Pin<Box<dyn Future<Output = ()>>>>;

/// The handle a resource keeps on its state's task.
pub struct Actor<S: 'static> {
    pub state: Rc<RefCell<S>>,
    mailbox: Rc<Mailbox<S>>,
}

struct Mailbox<S> {
    jobs: RefCell<VecDeque<Job<S>>>,
    waker: Cell<Option<Waker>>,
    closed: Cell<bool>,
}

impl<S> Mailbox<S> {
    fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

impl<S: 'static> Actor<S> {
    /// Spawns the task keeping `state` (from inside an export call, whose task it joins);
    /// `on_close` runs once the resource is dropped. The state is borrowed across awaits
    /// on purpose: only this task borrows it mutably, and the resource's synchronous
    /// methods (`try_borrow`) are refused while a job runs.
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn spawn<C: AsyncFnOnce(&mut S) + 'static>(state: S, on_close: C) -> Actor<S> {
        let state = Rc::new(RefCell::new(state));
        let mailbox = Rc::new(Mailbox { jobs: RefCell::new(VecDeque::new()), waker: Cell::new(None), closed: Cell::new(false) });
        let (kept, inbox) = (state.clone(), mailbox.clone());
        crate::sys::detach(async move {
            loop {
                let job = poll_fn(|cx| match inbox.jobs.borrow_mut().pop_front() {
                    Some(job) => Poll::Ready(Some(job)),
                    None if inbox.closed.get() => Poll::Ready(None),
                    None => {
                        inbox.waker.set(Some(cx.waker().clone()));
                        Poll::Pending
                    }
                })
                .await;
                match job {
                    Some(job) => job(kept.clone()).await,
                    None => break,
                }
            }
            if let Ok(mut state) = kept.try_borrow_mut() {
                on_close(&mut state).await;
            }
        });
        Actor { state, mailbox }
    }

    /// Runs `job` on the state in its task; its answer.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn run<T: 'static>(&self, job: impl AsyncFnOnce(&mut S) -> T + 'static) -> T {
        let answer = Rc::new(Answer { value: Cell::new(None), waker: Cell::new(None) });
        let reply = answer.clone();
        self.mailbox.jobs.borrow_mut().push_back(Box::new(move |state| {
            Box::pin(async move {
                let value = job(&mut state.borrow_mut()).await;
                reply.value.set(Some(value));
                if let Some(waker) = reply.waker.take() {
                    waker.wake();
                }
            })
        }));
        self.mailbox.wake();
        poll_fn(|cx| match answer.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                answer.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

struct Answer<T> {
    value: Cell<Option<T>>,
    waker: Cell<Option<Waker>>,
}

impl<S: 'static> Drop for Actor<S> {
    fn drop(&mut self) {
        self.mailbox.closed.set(true);
        self.mailbox.wake();
    }
}
